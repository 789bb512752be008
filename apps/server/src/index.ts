import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, type Engine } from '@labvisor/engine';
import type { Logger } from 'pino';
import { ConfigError, loadConfig } from './config.js';
import { type Database, DatabaseUnavailableError, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { loadSessionSecret } from './domain/auth/secrets.js';
import { findProbeGuest, registerCachedImages } from './domain/images/built-images.js';
import { defaultImageImportSettings } from './domain/images/image-import.js';
import { seedFirstRun } from './domain/tenants/seed.js';
import { prepareDefaultTemplates } from './domain/vms/vm-templates.js';
import { createLogger } from './logger.js';
import { buildServer, type LabvisorServer } from './server.js';
import { createPortalHandler, PortalNotBuiltError } from './web/next-handler.js';

const SHUTDOWN_TIMEOUT_MS = 10_000;
const RECONCILE_INTERVAL_MS = 5_000;
/** How often idle VMs and hour budgets are checked (a VM runs at most this long past either). */
const POLICY_CHECK_INTERVAL_MS = 30_000;
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
/** The guest image builder (infra/images/build.mjs), for background builds. */
const BUILD_SCRIPT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../infra/images/build.mjs',
);

/** Errors whose message is enough for the operator: printed as one line, no stack. */
const OPERATOR_ERRORS = [ConfigError, DatabaseUnavailableError, PortalNotBuiltError];

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  // Everything the server and its QEMU processes create is theirs alone: the data directory holds
  // the database, secrets, guest passwords, disks and console sockets.
  process.umask(0o077);
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await fs.chmod(config.dataDir, 0o700);

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
  const images = await registerCachedImages(database.knex, {
    cacheDir: config.imageCacheDir,
    imagesDir: path.join(config.dataDir, 'images'),
  });
  for (const image of images) {
    if ('error' in image)
      logger.warn({ image: image.name, reason: image.error }, 'cannot register a built image');
    else if (image.created) logger.info({ image: image.name }, 'registered a built image');
  }
  if (!images.some((image) => image.name === 'tiny' && !('error' in image))) {
    logger.warn('the tiny image is not built; run "npm run images -- tiny"');
  }

  const engine: Engine = await createEngine({
    runDir: path.join(config.dataDir, 'vms'),
    minFreeDiskBytes: config.minFreeDiskBytes,
    overcommit: { vcpus: config.vcpuOvercommit },
    // The tiny image's kernel: `auto` boots it to see whether KVM runs real guests here.
    driver:
      config.driver.kind === 'qemu'
        ? { ...config.driver, probeGuest: await findProbeGuest(database.knex) }
        : config.driver,
    logger: logger.child({ component: 'engine' }),
  });
  const engineInfo = engine.info();
  logger.info(
    {
      driver: engineInfo.name,
      version: engineInfo.version,
      ...engineInfo.details,
      error: engineInfo.error,
    },
    'engine ready',
  );

  const server = buildServer({
    database,
    engine,
    logger,
    sessionSecret: await loadSessionSecret(database.knex, config.dataDir, config.sessionSecret),
    recordingsDir: path.join(config.dataDir, 'recordings'),
    homesDir: path.join(config.dataDir, 'homes'),
    images: {
      ...defaultImageImportSettings(path.join(config.dataDir, 'images')),
      maxUploadBytes: config.imageMaxUploadBytes,
      maxVirtualBytes: config.imageMaxVirtualBytes,
    },
    publicOrigin: config.publicUrl ? new URL(config.publicUrl).origin : undefined,
    exposeStack: config.isDevelopment,
    checkAnswers: config.isDevelopment,
    metricsToken: config.metricsToken,
    trustProxy: config.trustProxy,
    webHandler: await createPortalHandler(WEB_DIR),
    imageBuilds: {
      names: config.backgroundImageBuilds,
      buildScript: BUILD_SCRIPT,
      cacheDir: config.imageCacheDir,
      imagesDir: path.join(config.dataDir, 'images'),
    },
    oidc: config.oidc,
    networkModes: config.networkModes,
    portsDomain: config.portsDomain,
  });
  // Replicas on one Postgres server: the one that leads runs the background work.
  await server.join();
  const leading = server.leadership.isLeader;
  if (leading) await server.vms.reconcile();
  const stopTimers = startTimers(server, logger);
  await server.listen(config.port, config.host);
  logger.info({ port: config.port, leading }, 'listening');
  process.stdout.write(`Labvisor is serving on http://localhost:${config.port}\n`);
  // Instant labs: each image's template at its default size, made ahead in the background.
  if (leading) server.imageBuilds.start();
  const templates = leading
    ? prepareDefaultTemplates(database.knex, engine, logger.child({ component: 'templates' }))
    : Promise.resolve();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new requests; VMs keep running');
    const forceExit = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
    forceExit.unref();
    stopTimers();
    await server.close();
    await engine.close();
    await templates;
    await database.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * The server's timers, run by the replica that leads: states converge and warm pools refill
 * (every 5 s), idle time, hour budgets and class hours suspend (and resume) VMs (every 30 s).
 * Answers what stops them.
 */
function startTimers(server: LabvisorServer, logger: Logger): () => void {
  if (server.leadership.isLeader) server.poolFiller.request();
  const reconciler = setInterval(() => {
    if (!server.leadership.isLeader) return;
    server.vms
      .reconcile()
      .catch((error: unknown) => logger.warn({ err: error }, 'reconcile failed'));
    server.poolFiller.request();
  }, RECONCILE_INTERVAL_MS);
  const policyChecks = setInterval(() => {
    if (!server.leadership.isLeader) return;
    server.idleSuspender
      .check()
      .catch((error: unknown) => logger.warn({ err: error }, 'idle check failed'));
    server.budgetKeeper
      .check()
      .catch((error: unknown) => logger.warn({ err: error }, 'budget check failed'));
    server.scheduleKeeper
      .check()
      .catch((error: unknown) => logger.warn({ err: error }, 'class hours check failed'));
  }, POLICY_CHECK_INTERVAL_MS);
  reconciler.unref();
  policyChecks.unref();
  return () => {
    clearInterval(reconciler);
    clearInterval(policyChecks);
  };
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
