import type { CapacityReport, DriverInfo, HostMember } from '@labvisor/engine';
import { API_ROUTES, type RouteSpec } from '@labvisor/shared';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Database } from './db/database.js';
import type { AccessEvents } from './domain/auth/access-events.js';
import { LoginThrottle } from './domain/auth/login-throttle.js';
import { UserService } from './domain/auth/user-service.js';
import type { ConsoleConnections } from './domain/consoles/console-connections.js';
import type { ConsoleTickets } from './domain/consoles/console-tickets.js';
import type { BackgroundImageBuilds } from './domain/images/image-builds.js';
import { ImageCatalog } from './domain/images/image-catalog.js';
import type { ImageImport } from './domain/images/image-import.js';
import { LtiLaunches } from './domain/lti/lti-launch.js';
import { LtiPlatformService } from './domain/lti/lti-platforms.js';
import type { PoolService } from './domain/pools/pool-service.js';
import type { HomeDisks } from './domain/tenants/home-disks.js';
import { InviteService } from './domain/tenants/invite-service.js';
import { MemberService } from './domain/tenants/member-service.js';
import { RosterService } from './domain/tenants/roster-service.js';
import { ScheduleService } from './domain/tenants/schedule-service.js';
import type { TenantProjects } from './domain/tenants/tenant-projects.js';
import { TenantService } from './domain/tenants/tenant-service.js';
import type { LabFiles } from './domain/vms/lab-files.js';
import type { NetworkPolicy } from './domain/vms/network-policy.js';
import type { SnapshotService } from './domain/vms/snapshot-service.js';
import type { VmService } from './domain/vms/vm-service.js';
import { AppError } from './errors.js';
import {
  authenticateRequest,
  configurePassport,
  requireCsrfToken,
} from './http/auth/authentication.js';
import type { OidcSignIn } from './http/auth/oidc.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import type { GuestPortProxy } from './http/guest-ports.js';
import { ltiLaunchRouter } from './http/lti-launch.js';
import type { Metrics } from './http/metrics.js';
import { mountRoutes } from './http/router.js';
import { auditHandlers } from './http/routes/audit.js';
import { authHandlers } from './http/routes/auth.js';
import { classTemplateHandlers } from './http/routes/class-templates.js';
import { consoleHandlers } from './http/routes/consoles.js';
import { fileHandlers } from './http/routes/files.js';
import { hostHandlers } from './http/routes/host.js';
import { imageHandlers } from './http/routes/images.js';
import { inviteHandlers } from './http/routes/invites.js';
import { ltiPlatformHandlers } from './http/routes/lti.js';
import { poolHandlers } from './http/routes/pools.js';
import { rosterHandlers } from './http/routes/roster.js';
import { scheduleHandlers } from './http/routes/schedules.js';
import { serviceHandlers } from './http/routes/service.js';
import { snapshotHandlers } from './http/routes/snapshots.js';
import { tenantHandlers } from './http/routes/tenants.js';
import { tokenHandlers } from './http/routes/tokens.js';
import { userHandlers } from './http/routes/users.js';
import { vmHandlers } from './http/routes/vms.js';
import type { VmEventStreams } from './http/vm-events.js';

const MAX_JSON_BODY = '256kb';

/** What `/readyz` and `/api/v1/host` need from the engine. */
export interface EngineStatusSource {
  info(): DriverInfo;
  capacity(): CapacityReport;
  members(): HostMember[];
  setMemberState(member: string, action: 'evacuate' | 'restore'): Promise<void>;
}

/** Everything the HTTP app depends on; built by index.ts, or by a test. */
export interface AppDeps {
  database: Database;
  engine: EngineStatusSource;
  vms: VmService;
  /** Mirrors tenant quotas onto the engine's per-tenant projects (Incus). */
  tenantProjects?: TenantProjects;
  /** Which network modes VMs may have. */
  networks: NetworkPolicy;
  /** Members' home disks (deleted with the member or the tenant). */
  homeDisks: HomeDisks;
  /** Labs' web apps on their own host names. */
  guestPorts: GuestPortProxy;
  /** Server-sent events of VM changes. */
  vmEvents: VmEventStreams;
  pools: PoolService;
  /** Guest images built in the background, for the host page. */
  imageBuilds: Pick<BackgroundImageBuilds, 'status'>;
  snapshots: SnapshotService;
  /** Files in and out of labs through their guest agent. */
  labFiles: LabFiles;
  /** Image uploads and deletes (`POST|DELETE /api/v1/images`). */
  images: ImageImport;
  logger: Logger;
  /** The session middleware (see http/auth/session.ts), shared with the console gateway. */
  sessionMiddleware: RequestHandler;
  metrics: Metrics;
  /** OpenID Connect sign-in, when configured. */
  oidc?: OidcSignIn;
  /** The public origin behind a proxy (for the OpenID Connect callback URL). */
  publicOrigin?: string;
  /** Issues console tickets (`POST /api/v1/vms/:vmId/console`). */
  consoleTickets: ConsoleTickets;
  /** Who is connected now to each VM's consoles (the console gateway). */
  consoleConnections: ConsoleConnections;
  /** Announces access changes (to close consoles of people who lost access). */
  accessEvents: AccessEvents;
  /** Express's `trust proxy`: which peers are proxies (default loopback). */
  trustProxy?: boolean | number | string;
  /** When set, `GET /metrics` requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string | undefined;
  /** Include stack traces of server faults in answers (development only). */
  exposeStack: boolean;
  /** Check every JSON answer against its route's declared schema (development and tests). */
  checkAnswers?: boolean;
  /** Serves the portal (Next.js) for every path the API does not own. */
  webHandler?: RequestHandler;
}

/** Builds the Express app: the API, health endpoints, then the portal; testable without a port. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag: hashing every answer costs each request, and no client sends If-None-Match.
  app.set('etag', false);
  // Whose X-Forwarded-For names the client: sign-in throttling and audit addresses rely on it.
  app.set('trust proxy', deps.trustProxy ?? 'loopback');

  const knex = deps.database.knex;
  const passportInstance = configurePassport(knex);
  app.use(deps.metrics.timeRequests);
  // A lab's web app on its own host name: before the API and the portal, which it never reaches.
  app.use(deps.guestPorts.middleware);

  const api = express.Router();
  api.use(requireJsonBodies);
  api.use(express.json({ limit: MAX_JSON_BODY }));
  api.use(deps.sessionMiddleware);
  api.use(passportInstance.initialize());
  api.use(authenticateRequest(knex));
  api.use(requireCsrfToken);

  const tenants = new TenantService(knex, deps.homeDisks, deps.tenantProjects);
  const users = new UserService(knex, deps.accessEvents);
  mountRoutes(
    { root: app, api },
    {
      ...serviceHandlers({
        database: deps.database,
        engine: deps.engine,
        logger: deps.logger,
        metrics: deps.metrics,
        metricsToken: deps.metricsToken,
      }),
      ...authHandlers({
        knex,
        passport: passportInstance,
        throttle: new LoginThrottle(knex),
        oidc: deps.oidc,
        publicOrigin: deps.publicOrigin,
      }),
      ...tokenHandlers(knex),
      ...tenantHandlers(
        tenants,
        new MemberService(knex, tenants, deps.accessEvents, deps.homeDisks),
        deps.networks,
      ),
      ...userHandlers(users),
      ...imageHandlers(new ImageCatalog(knex, deps.engine), deps.images),
      ...vmHandlers(knex, deps.vms, deps.vmEvents, deps.guestPorts),
      ...poolHandlers(deps.pools),
      ...scheduleHandlers(new ScheduleService(knex)),
      ...inviteHandlers(new InviteService(knex)),
      ...ltiPlatformHandlers(new LtiPlatformService(knex)),
      ...rosterHandlers(knex, new RosterService(knex), users),
      ...snapshotHandlers(deps.vms, deps.snapshots),
      ...classTemplateHandlers(deps.vms, deps.images),
      ...fileHandlers(deps.labFiles),
      ...consoleHandlers({
        knex,
        vms: deps.vms,
        tickets: deps.consoleTickets,
        connections: deps.consoleConnections,
      }),
      ...auditHandlers(knex),
      ...hostHandlers(knex, deps.engine, deps.imageBuilds),
    },
    { knex, checkAnswers: deps.checkAnswers ?? false },
  );
  api.use(notFoundHandler);
  api.use(countAdmissionRefusals(deps.metrics));
  api.use(errorHandler(deps.logger, deps.exposeStack));
  app.use('/api/v1', api);
  app.use(
    '/lti',
    ltiLaunchRouter({
      knex,
      launches: new LtiLaunches(knex),
      vms: deps.vms,
      sessionMiddleware: deps.sessionMiddleware,
      passport: passportInstance,
      publicOrigin: deps.publicOrigin,
      logger: deps.logger,
    }),
  );

  if (deps.webHandler) app.use(deps.webHandler);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger, deps.exposeStack));
  return app;
}

/** Counts quota and capacity refusals of real creates and starts (not dry runs) by resource. */
function countAdmissionRefusals(metrics: Metrics): ErrorRequestHandler {
  return (error, req, _res, next) => {
    if (error instanceof AppError && error.code === 'QUOTA_EXCEEDED' && !req.query.dryRun) {
      metrics.admissionRefusals.inc({ resource: String(error.details?.resource ?? 'unknown') });
    }
    next(error);
  };
}

/** The routes whose body is raw bytes (an image, a file for a lab), as method and path pattern. */
const BINARY_BODY_ROUTES = Object.values(API_ROUTES as Record<string, RouteSpec>)
  .filter((route) => route.binaryBody !== undefined)
  .map((route) => ({
    method: route.method.toUpperCase(),
    path: new RegExp(`^${route.path.replace(/:\w+/g, '[^/]+')}$`),
  }));

/**
 * Refuses a request body that is not JSON (except the raw bytes of a route that takes them): a body of another type
 * would otherwise go unread, and a request whose body was meant to say something must not act as
 * if it said nothing.
 */
const requireJsonBodies: RequestHandler = (req, _res, next) => {
  const hasBody =
    Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (!hasBody || req.is('application/json')) return next();
  const path = `/api/v1${req.path}`;
  const isBinary = BINARY_BODY_ROUTES.some(
    (route) => route.method === req.method && route.path.test(path),
  );
  if (isBinary) return next();
  next(
    new AppError('VALIDATION', 'The request body must be JSON (Content-Type: application/json).'),
  );
};
