import type { Readiness } from '@labvisor/shared';
import { Router } from 'express';
import type { Logger } from 'pino';
import type { EngineStatusSource } from '../../app.js';
import type { Database } from '../../db/database.js';

const DATABASE_CHECK_TIMEOUT_MS = 2_000;

/** `/healthz` (the process is up) and `/readyz` (database and engine usable). */
export function healthRoutes(
  database: Database,
  engine: EngineStatusSource,
  logger: Logger,
): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  router.get('/readyz', async (_req, res) => {
    const databaseStatus: Readiness['database'] = { ok: true, kind: database.kind };
    try {
      await withTimeout(database.knex.raw('select 1'), DATABASE_CHECK_TIMEOUT_MS);
    } catch (error) {
      // The driver's own words (addresses, user names) go to the log, not to anonymous callers.
      logger.warn({ err: error }, 'readiness: the database does not answer');
      databaseStatus.ok = false;
      databaseStatus.error = 'The database does not answer.';
    }
    const info = engine.info();
    const engineStatus: Readiness['engine'] = info.error
      ? { ok: false, error: info.error }
      : { ok: true, driver: info.name, ...info.details };
    const body: Readiness = {
      ready: databaseStatus.ok && engineStatus.ok,
      database: databaseStatus,
      engine: engineStatus,
    };
    res.status(body.ready ? 200 : 503).json(body);
  });

  return router;
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
