import { timingSafeEqual } from 'node:crypto';
import type { CapacityReport, DriverInfo } from '@labvisor/engine';
import { emptyBodySchema } from '@labvisor/shared';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Database } from './db/database.js';
import type { AccessEvents } from './domain/auth/access-events.js';
import { LoginThrottle } from './domain/auth/login-throttle.js';
import type { ConsoleTickets } from './domain/consoles/console-tickets.js';
import type { ImageImport } from './domain/images/image-import.js';
import type { SnapshotService } from './domain/vms/snapshot-service.js';
import type { VmService } from './domain/vms/vm-service.js';
import { AppError } from './errors.js';
import {
  authenticateBearer,
  configurePassport,
  requireCsrfToken,
} from './http/auth/authentication.js';
import type { OidcSignIn } from './http/auth/oidc.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import type { Metrics } from './http/metrics.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { activityRoutes } from './http/routes/activity.js';
import { auditRoutes } from './http/routes/audit.js';
import { authRoutes } from './http/routes/auth.js';
import { consoleRoutes } from './http/routes/consoles.js';
import { healthRoutes } from './http/routes/health.js';
import { hostRoutes } from './http/routes/host.js';
import { imageRoutes } from './http/routes/images.js';
import { recordingRoutes } from './http/routes/recordings.js';
import { snapshotRoutes } from './http/routes/snapshots.js';
import { tenantRoutes } from './http/routes/tenants.js';
import { tokenRoutes } from './http/routes/tokens.js';
import { userRoutes } from './http/routes/users.js';
import { vmRoutes } from './http/routes/vms.js';
import { parseInput } from './http/validate.js';
import type { ConsolePresence } from './ws/console-gateway.js';

const MAX_JSON_BODY = '256kb';

/** What `/readyz` and `/api/v1/host` need from the engine. */
export interface EngineStatusSource {
  info(): DriverInfo;
  capacity(): CapacityReport;
}

/** Everything the HTTP app depends on; built by index.ts, or by a test. */
export interface AppDeps {
  database: Database;
  engine: EngineStatusSource;
  vms: VmService;
  snapshots: SnapshotService;
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
  consolePresence: ConsolePresence;
  /** Announces access changes (to close consoles of people who lost access). */
  accessEvents: AccessEvents;
  /** Express's `trust proxy`: which peers are proxies (default loopback). */
  trustProxy?: boolean | number | string;
  /** When set, `GET /metrics` requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string | undefined;
  /** Include stack traces of server faults in answers (development only). */
  exposeStack: boolean;
  /** Serves the portal (Next.js) for every path the API does not own. */
  webHandler?: RequestHandler;
}

/** Builds the Express app: the API, health endpoints, then the portal; testable without a port. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Whose X-Forwarded-For names the client: sign-in throttling and audit addresses rely on it.
  app.set('trust proxy', deps.trustProxy ?? 'loopback');

  const knex = deps.database.knex;
  const passportInstance = configurePassport(knex);

  app.use(deps.metrics.timeRequests);
  app.use(healthRoutes(deps.database, deps.engine, deps.logger));
  app.get('/metrics', requireMetricsToken(deps.metricsToken), deps.metrics.serve);

  const api = express.Router();
  const openApiDocument = buildOpenApiDocument();
  api.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  api.use(requireJsonBodies);
  api.use(express.json({ limit: MAX_JSON_BODY }));
  api.use(deps.sessionMiddleware);
  api.use(passportInstance.session());
  api.use((req, _res, next) => {
    if (req.user) req.authMethod = 'session';
    next();
  });
  api.use(authenticateBearer(knex));
  api.use(requireCsrfToken);
  // Deletes and sign-out take no body: anything in one is a mistake, refused before it acts.
  api.use((req, _res, next) => {
    if (req.method === 'DELETE' || req.path === '/auth/logout')
      parseInput(emptyBodySchema, req.body);
    next();
  });
  api.use(
    authRoutes(knex, passportInstance, new LoginThrottle(), {
      oidc: deps.oidc,
      publicOrigin: deps.publicOrigin,
    }),
  );
  api.use(tokenRoutes(knex));
  api.use(tenantRoutes(knex, deps.accessEvents));
  api.use(userRoutes(knex, deps.accessEvents));
  api.use(imageRoutes(knex, deps.images));
  api.use(vmRoutes(knex, deps.vms));
  api.use(snapshotRoutes(knex, deps.vms, deps.snapshots));
  api.use(auditRoutes(knex));
  api.use(hostRoutes(knex, deps.engine));
  api.use(recordingRoutes(knex, deps.vms));
  api.use(activityRoutes(knex, deps.vms));
  api.use(consoleRoutes(knex, deps.vms, deps.consoleTickets, deps.consolePresence));
  api.use(notFoundHandler);
  api.use(countAdmissionRefusals(deps.metrics));
  api.use(errorHandler(deps.logger, deps.exposeStack));
  app.use('/api/v1', api);

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

/** Lets `/metrics` through only with the configured token (when one is), compared in constant time. */
function requireMetricsToken(token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  return (req, _res, next) => {
    if (!expected) return next();
    const sent = Buffer.from(req.get('authorization') ?? '');
    if (sent.length === expected.length && timingSafeEqual(sent, expected)) return next();
    next(
      new AppError(
        'UNAUTHENTICATED',
        'The metrics need the metrics token (Authorization: Bearer).',
      ),
    );
  };
}

/**
 * Refuses a request body that is not JSON (except an image upload's bytes): a body of another type
 * would otherwise go unread, and a request whose body was meant to say something must not act as
 * if it said nothing.
 */
const requireJsonBodies: RequestHandler = (req, _res, next) => {
  const hasBody =
    Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  const isUpload = req.method === 'POST' && req.path === '/images';
  if (!hasBody || isUpload || req.is('application/json')) return next();
  next(
    new AppError('VALIDATION', 'The request body must be JSON (Content-Type: application/json).'),
  );
};
