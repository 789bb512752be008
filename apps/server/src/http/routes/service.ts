import { timingSafeEqual } from 'node:crypto';
import { buildOpenApiDocument, type Readiness } from '@labvisor/shared';
import type { Logger } from 'pino';
import type { EngineStatusSource } from '../../app.js';
import type { Database } from '../../db/database.js';
import { AppError } from '../../errors.js';
import type { Metrics } from '../metrics.js';
import { ANSWERED, Answer, type Handlers } from '../router.js';

const DATABASE_CHECK_TIMEOUT_MS = 2_000;

/**
 * The service's own endpoints: `/healthz` (the process is up), `/readyz` (database and engine
 * usable), `/metrics` (with the metrics token when one is set) and the OpenAPI document.
 */
export function serviceHandlers(deps: {
  database: Database;
  engine: EngineStatusSource;
  logger: Logger;
  metrics: Metrics;
  metricsToken: string | undefined;
}): Handlers<'healthz' | 'readyz' | 'metrics' | 'openApi'> {
  const openApiDocument = buildOpenApiDocument();
  const expectedAuthorization =
    deps.metricsToken === undefined ? undefined : Buffer.from(`Bearer ${deps.metricsToken}`);
  return {
    healthz: () => ({ ok: true }),
    readyz: async () => {
      const database: Readiness['database'] = { ok: true, kind: deps.database.kind };
      try {
        await withTimeout(deps.database.knex.raw('select 1'), DATABASE_CHECK_TIMEOUT_MS);
      } catch (error) {
        // The driver's own words (addresses, user names) go to the log, not to anonymous callers.
        deps.logger.warn({ err: error }, 'readiness: the database does not answer');
        database.ok = false;
        database.error = 'The database does not answer.';
      }
      const info = deps.engine.info();
      const engine: Readiness['engine'] = info.error
        ? { ok: false, error: info.error }
        : { ok: true, driver: info.name, ...info.details };
      const body: Readiness = { ready: database.ok && engine.ok, database, engine };
      return body.ready ? body : new Answer(503, body);
    },
    metrics: async (_input, { req, res }) => {
      if (expectedAuthorization) {
        const sent = Buffer.from(req.get('authorization') ?? '');
        if (
          sent.length !== expectedAuthorization.length ||
          !timingSafeEqual(sent, expectedAuthorization)
        ) {
          throw new AppError(
            'UNAUTHENTICATED',
            'The metrics need the metrics token (Authorization: Bearer).',
          );
        }
      }
      const { contentType, text } = await deps.metrics.exposition();
      res.set('Content-Type', contentType).send(text);
      return ANSWERED;
    },
    openApi: (_input, { res }) => {
      res.json(openApiDocument);
      return ANSWERED;
    },
  };
}

function withTimeout<T>(promise: PromiseLike<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    Promise.resolve(promise).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
