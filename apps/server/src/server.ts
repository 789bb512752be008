import type { Server } from 'node:http';
import type { Engine } from '@labvisor/engine';
import { NETWORK_MODES, type NetworkMode } from '@labvisor/shared';
import type { Express, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import type { OidcSettings } from './config.js';
import type { Database } from './db/database.js';
import { toVm, type VmRow } from './db/queries/vms.js';
import { KnexSessionStore } from './db/session-store.js';
import { AccessEvents } from './domain/auth/access-events.js';
import { ConsoleConnections } from './domain/consoles/console-connections.js';
import { ConsoleTickets } from './domain/consoles/console-tickets.js';
import {
  BackgroundImageBuilds,
  type ImageBuildSettings,
  NO_IMAGE_BUILDS,
} from './domain/images/image-builds.js';
import { ImageImport, type ImageImportSettings } from './domain/images/image-import.js';
import { PoolFiller } from './domain/pools/pool-filler.js';
import { PoolService } from './domain/pools/pool-service.js';
import { BudgetKeeper } from './domain/quota/budget-keeper.js';
import { Leadership } from './domain/replicas/leadership.js';
import { ReplicaBus } from './domain/replicas/replica-bus.js';
import { ReplicaRegistry } from './domain/replicas/replica-registry.js';
import { HomeDisks } from './domain/tenants/home-disks.js';
import { TenantProjects } from './domain/tenants/tenant-projects.js';
import { IdleSuspender } from './domain/vms/idle-suspender.js';
import { LabFiles } from './domain/vms/lab-files.js';
import { NetworkPolicy } from './domain/vms/network-policy.js';
import { ScheduleKeeper } from './domain/vms/schedule-keeper.js';
import { SnapshotService } from './domain/vms/snapshot-service.js';
import { readVmSpec } from './domain/vms/vm-boot.js';
import { VmService } from './domain/vms/vm-service.js';
import { OidcSignIn } from './http/auth/oidc.js';
import { createSessionMiddleware } from './http/auth/session.js';
import { GuestPortProxy } from './http/guest-ports.js';
import { Metrics } from './http/metrics.js';
import { VmEventStreams } from './http/vm-events.js';
import { ConsoleGateway } from './ws/console-gateway.js';

/** How long a shutdown waits for requests in flight before it closes their connections. */
export const HTTP_DRAIN_MS = 3_000;
/** What the server is built from: the open database and engine, and settings from the config. */
export interface ServerOptions {
  database: Database;
  engine: Engine;
  logger: Logger;
  sessionSecret: string;
  /** Where console recordings are kept. */
  recordingsDir: string;
  /** Where members' home disks are kept. */
  homesDir: string;
  /** The image store and upload limits. */
  images: ImageImportSettings;
  /** The public origin (https behind a proxy): Secure cookies and the console Origin check. */
  publicOrigin: string | undefined;
  exposeStack: boolean;
  /** Check every JSON answer against its route's declared schema (development and tests). */
  checkAnswers?: boolean;
  /** When set, `GET /metrics` requires this bearer token. */
  metricsToken?: string | undefined;
  /** Express's `trust proxy` (default loopback). */
  trustProxy?: boolean | number | string;
  webHandler?: RequestHandler;
  /** OpenID Connect single sign-on, when configured. */
  oidc?: OidcSettings;
  /** Guest images to build in the background once serving (none when absent). */
  imageBuilds?: ImageBuildSettings;
  /** The network modes the platform offers, of those its engine can run (default: all). */
  networkModes?: readonly NetworkMode[];
  /** Labs' web apps are served on `p<port>-<vmId>.<this domain>` (default `localhost`). */
  portsDomain?: string;
}

/** The server's parts, wired together; `listen` serves HTTP and console upgrades. */
export interface LabvisorServer {
  app: Express;
  vms: VmService;
  /** Keeps warm pools filled: `request()` after a restart and now and then. */
  poolFiller: PoolFiller;
  /** Builds guest images in the background: `start()` once serving. */
  imageBuilds: BackgroundImageBuilds;
  /** Suspends idle VMs of tenants with an idle policy: `check()` now and then. */
  idleSuspender: IdleSuspender;
  /** Warns and suspends VMs by their hour budgets: `check()` now and then. */
  budgetKeeper: BudgetKeeper;
  /** Suspends labs when class hours end and resumes them before the next: `check()` now and then. */
  scheduleKeeper: ScheduleKeeper;
  consoles: ConsoleGateway;
  /** Whether this replica runs the background work (always, on embedded PGlite). */
  leadership: Leadership;
  /** This server among the replicas on its database. */
  replica: ReplicaRegistry;
  /**
   * Joins the replicas on the database: registers this one, hears the others, competes for the
   * lead. Once; `listen` joins first if this was not called.
   */
  join(): Promise<void>;
  /** Serves on a port (after joining the replicas); resolves with the listening HTTP server. */
  listen(port: number, host: string): Promise<Server>;
  /** Stops serving: closes consoles and sockets, waits for engine work; VMs keep running. */
  close(): Promise<void>;
}

/** Builds every service of the server (the one composition root, for index.ts and the tests). */
export function buildServer(options: ServerOptions): LabvisorServer {
  const { database, engine, logger } = options;
  const knex = database.knex;
  const imageBuilds = new BackgroundImageBuilds({
    knex,
    engine,
    logger: logger.child({ component: 'image-builds' }),
    settings: options.imageBuilds ?? NO_IMAGE_BUILDS,
  });
  const poolFiller = new PoolFiller({ knex, engine, logger: logger.child({ component: 'pools' }) });
  const networks = new NetworkPolicy(options.networkModes ?? NETWORK_MODES, engine);
  const homeDisks = new HomeDisks(knex, options.homesDir);
  const vms = new VmService({
    knex,
    engine,
    pools: poolFiller,
    networks,
    homeDisks,
    logger: logger.child({ component: 'vms' }),
  });
  const sessionStore = new KnexSessionStore(knex);
  const sessionMiddleware = createSessionMiddleware({
    store: sessionStore,
    secret: options.sessionSecret,
    secureCookies: options.publicOrigin?.startsWith('https:') ?? false,
  });
  const replica = new ReplicaRegistry(database, logger.child({ component: 'replicas' }));
  const bus = new ReplicaBus(database, logger.child({ component: 'replicas' }));
  const leadership = new Leadership(database, logger.child({ component: 'replicas' }));
  publishVmChanges(vms, bus, logger);
  const consoleTickets = new ConsoleTickets(knex);
  const consoleConnections = new ConsoleConnections(knex, replica.id);
  const accessEvents = new AccessEvents(bus);
  const consoles = new ConsoleGateway({
    knex,
    engine,
    vms,
    tickets: consoleTickets,
    connections: consoleConnections,
    bus,
    sessionMiddleware,
    publicOrigin: options.publicOrigin,
    accessEvents,
    recordingsDir: options.recordingsDir,
    logger: logger.child({ component: 'consoles' }),
  });
  const idleSuspender = new IdleSuspender({
    knex,
    vms,
    consoles,
    logger: logger.child({ component: 'idle' }),
  });
  const budgetKeeper = new BudgetKeeper({
    knex,
    vms,
    consoles,
    logger: logger.child({ component: 'budgets' }),
  });
  const scheduleKeeper = new ScheduleKeeper({
    knex,
    vms,
    logger: logger.child({ component: 'schedules' }),
  });
  const vmEvents = new VmEventStreams(bus, accessEvents);
  const guestPorts = new GuestPortProxy({
    knex,
    engine,
    sessionSecret: options.sessionSecret,
    domain: options.portsDomain ?? 'localhost',
    publicOrigin: options.publicOrigin,
    logger: logger.child({ component: 'ports' }),
  });
  // Replicas on a shared cluster: a VM another replica made is learned from the database.
  engine.setVmSource((vmId) => readVmSpec(knex, vmId));
  const tenantProjects = new TenantProjects(knex, engine, logger.child({ component: 'projects' }));
  // Quotas changed while the server was down (or a cluster that lost its projects) are mirrored.
  void tenantProjects
    .syncAll()
    .catch((error) => logger.warn({ err: error }, 'cannot mirror tenant quotas onto projects'));
  const app = createApp({
    database,
    engine,
    vms,
    tenantProjects,
    networks,
    homeDisks,
    guestPorts,
    vmEvents,
    pools: new PoolService({ knex, engine, filler: poolFiller }),
    imageBuilds,
    snapshots: new SnapshotService({ knex, engine, vms }),
    labFiles: new LabFiles(knex, vms, engine),
    images: new ImageImport(knex, options.images, engine),
    logger,
    sessionMiddleware,
    consoleTickets,
    consoleConnections,
    accessEvents,
    metrics: new Metrics(
      knex,
      () => consoles.openSockets,
      () => engine.networkCounters(),
    ),
    exposeStack: options.exposeStack,
    checkAnswers: options.checkAnswers ?? false,
    metricsToken: options.metricsToken,
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    webHandler: options.webHandler,
    oidc: options.oidc && new OidcSignIn(options.oidc, knex, logger.child({ component: 'oidc' })),
    publicOrigin: options.publicOrigin,
  });

  let joined: Promise<void> | undefined;
  const join = () => {
    joined ??= (async () => {
      await replica.start();
      await bus.open();
      await leadership.start();
    })();
    return joined;
  };
  let httpServer: Server | undefined;
  return {
    app,
    vms,
    poolFiller,
    imageBuilds,
    idleSuspender,
    budgetKeeper,
    scheduleKeeper,
    consoles,
    leadership,
    replica,
    join,
    listen: async (port, host) => {
      await join();
      return new Promise((resolve, reject) => {
        const listening = app.listen(port, host, () => resolve(listening));
        listening.once('error', reject);
        listening.on('upgrade', (req, socket, head) => {
          if (!guestPorts.targetOf(req)) return consoles.handleUpgrade(req, socket, head);
          guestPorts.handleUpgrade(req, socket, head).catch((error: unknown) => {
            logger.error({ err: error }, 'a guest port upgrade failed');
            socket.destroy();
          });
        });
        httpServer = listening;
      });
    },
    close: async () => {
      // Stop accepting, tell console viewers to reconnect, then let in-flight requests finish;
      // whatever is still open after HTTP_DRAIN_MS (a stalled upload, a half-sent request) is cut.
      const closed = new Promise((resolve) =>
        httpServer ? httpServer.close(resolve) : resolve(undefined),
      );
      httpServer?.closeIdleConnections();
      vmEvents.close();
      await consoles.close();
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), HTTP_DRAIN_MS).unref()),
      ]);
      if (!drained) httpServer?.closeAllConnections();
      await closed;
      sessionStore.close();
      await poolFiller.stop();
      await imageBuilds.stop();
      await vms.idle();
      await leadership.close();
      await bus.close();
      await replica.close();
    },
  };
}

/** Tells every replica's event streams of the changes to members' VMs made here. */
function publishVmChanges(vms: VmService, bus: ReplicaBus, logger: Logger): void {
  const failed = (error: unknown) =>
    logger.warn({ err: error }, 'telling the replicas of a VM change failed');
  const audienceOf = (row: VmRow) => ({
    tenant_id: row.tenant_id,
    owner_id: row.owner_id,
    pool_id: row.pool_id,
  });
  vms.on('vm-changed', (row) => {
    // A warm pool's VM is nobody's until taken: nothing to tell.
    if (row.pool_id !== null) return;
    bus.publish({ type: 'vm-changed', vm: toVm(row), audience: audienceOf(row) }).catch(failed);
  });
  vms.on('vm-deleted', (row) => {
    if (row.pool_id !== null) return;
    bus.publish({ type: 'vm-deleted', id: row.id, audience: audienceOf(row) }).catch(failed);
  });
}
