import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, type Engine } from '@labvisor/engine';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { type Database, DatabaseUnavailableError, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { KnexSessionStore } from './db/session-store.js';
import { ConsoleTickets } from './domain/console-tickets.js';
import { registerBuiltImage } from './domain/images.js';
import { loadSessionSecret } from './domain/secrets.js';
import { seedFirstRun } from './domain/seed.js';
import { SnapshotService } from './domain/snapshot-service.js';
import { VmService } from './domain/vm-service.js';
import { createSessionMiddleware } from './http/auth/session.js';
import { Metrics } from './http/metrics.js';
import { createLogger } from './logger.js';
import { createPortalHandler, PortalNotBuiltError } from './web/next-handler.js';
import { ConsoleGateway } from './ws/console-gateway.js';

const SHUTDOWN_TIMEOUT_MS = 10_000;
const RECONCILE_INTERVAL_MS = 5_000;
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');

/** Errors whose message is enough for the operator: printed as one line, no stack. */
const OPERATOR_ERRORS = [ConfigError, DatabaseUnavailableError, PortalNotBuiltError];

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  await fs.mkdir(config.dataDir, { recursive: true });

  const database: Database = await openDatabase(
    config.databaseUrl
      ? { url: config.databaseUrl }
      : { pgliteDir: path.join(config.dataDir, 'pglite') },
  );
  const applied = await migrateToLatest(database.knex);
  if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');

  const firstRun = await seedFirstRun(database.knex, {
    adminEmail: config.adminEmail,
    adminPassword: config.adminPassword,
  });
  if (firstRun) {
    const password = firstRun.generatedPassword
      ? `password: ${firstRun.generatedPassword}   (shown once; write it down)`
      : 'password: the one in LABVISOR_ADMIN_PASSWORD';
    process.stdout.write(`\nFirst platform admin created: ${firstRun.adminEmail}\n${password}\n\n`);
  }
  await registerTinyImage(database, config.imageCacheDir, config.dataDir, logger);

  const engine: Engine = await createEngine({
    runDir: path.join(config.dataDir, 'vms'),
    accel: config.accel,
    logger: logger.child({ component: 'engine' }),
  });
  const engineInfo = engine.info();
  logger.info(
    { accel: engineInfo.accel, qemu: engineInfo.version, error: engineInfo.error },
    'engine ready',
  );

  const vms = new VmService({
    knex: database.knex,
    engine,
    logger: logger.child({ component: 'vms' }),
  });
  await vms.reconcile();
  const reconciler = setInterval(() => {
    vms.reconcile().catch((error: unknown) => logger.warn({ err: error }, 'reconcile failed'));
  }, RECONCILE_INTERVAL_MS);
  reconciler.unref();

  const sessionStore = new KnexSessionStore(database.knex);
  const sessionMiddleware = createSessionMiddleware({
    store: sessionStore,
    secret: await loadSessionSecret(config.dataDir, config.sessionSecret),
    secureCookies: config.publicUrl?.startsWith('https:') ?? false,
  });
  const consoleTickets = new ConsoleTickets();
  const consoles = new ConsoleGateway({
    knex: database.knex,
    engine,
    vms,
    tickets: consoleTickets,
    sessionMiddleware,
    publicOrigin: config.publicUrl ? new URL(config.publicUrl).origin : undefined,
    logger: logger.child({ component: 'consoles' }),
  });
  const metrics = new Metrics(database.knex, () => consoles.openSockets);
  const app = createApp({
    database,
    engine,
    vms,
    snapshots: new SnapshotService({ knex: database.knex, engine, vms }),
    logger,
    sessionMiddleware,
    consoleTickets,
    metrics,
    exposeStack: config.isDevelopment,
    webHandler: await createPortalHandler(WEB_DIR),
  });

  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(config.port, config.host, () => resolve(listening));
    listening.once('error', reject);
  });
  server.on('upgrade', consoles.handleUpgrade);
  logger.info({ port: config.port }, 'listening');
  process.stdout.write(`Labvisor is serving on http://localhost:${config.port}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new requests; VMs keep running');
    const forceExit = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
    forceExit.unref();
    server.close();
    server.closeIdleConnections();
    await consoles.close();
    clearInterval(reconciler);
    await vms.idle();
    await engine.close();
    sessionStore.close();
    await database.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Registers the tiny image from the image cache, when it has been built. */
async function registerTinyImage(
  database: Database,
  imageCacheDir: string,
  dataDir: string,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  const manifestDir = path.join(imageCacheDir, 'images', 'tiny');
  try {
    await fs.access(path.join(manifestDir, 'manifest.json'));
  } catch {
    logger.warn({ manifestDir }, 'the tiny image is not built; run "npm run images -- tiny"');
    return;
  }
  const { created } = await registerBuiltImage(database.knex, {
    manifestDir,
    imagesDir: path.join(dataDir, 'images'),
  });
  if (created) logger.info('registered the tiny image');
}

main().catch((error: unknown) => {
  const known = OPERATOR_ERRORS.some((kind) => error instanceof kind);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`labvisor: ${known ? message : `failed to start: ${message}`}\n`);
  if (!known && process.env.LOG_LEVEL === 'debug' && error instanceof Error) {
    process.stderr.write(`${error.stack}\n`);
  }
  process.exit(1);
});
