import fs from 'node:fs/promises';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { lockPgliteDir, type PgliteLock, PgliteLockedError } from './pglite-lock.js';

/**
 * How long connecting to a Postgres server may take, and twice that to wait for a free pooled
 * connection: while the server is down, requests answer 503 within seconds instead of hanging.
 */
const CONNECT_TIMEOUT_MS = 3_000;

/** knex prints to the console on its own; its failures reach us as thrown errors instead. */
const QUIET_KNEX_LOG = { warn() {}, error() {}, deprecate() {}, debug() {} };

/** Which Postgres the server talks to. */
export type DatabaseKind = 'pglite' | 'postgres';

/** An open database: the knex instance and what it runs on. */
export interface Database {
  knex: Knex;
  kind: DatabaseKind;
  /** The server's URL (kind `postgres`), for connections of their own (LISTEN, advisory locks). */
  url?: string;
  close(): Promise<void>;
}

/** Thrown when the database cannot be reached or opened; its message is one line for the operator. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** Where to find the database: a Postgres URL, or a directory (or memory) for embedded PGlite. */
export type DatabaseLocation = { url: string } | { pgliteDir: string } | { pgliteMemory: true };

/** Opens the database and checks it answers; throws DatabaseUnavailableError with one clear line. */
export async function openDatabase(location: DatabaseLocation): Promise<Database> {
  // PGlite is one process's database: a second process (another server, `npm run images`) is refused.
  let lock: PgliteLock | undefined;
  if ('pgliteDir' in location) {
    await fs.mkdir(path.dirname(location.pgliteDir), { recursive: true });
    try {
      lock = lockPgliteDir(location.pgliteDir);
    } catch (error) {
      if (!(error instanceof PgliteLockedError)) throw error;
      throw new DatabaseUnavailableError(error.message, { cause: error });
    }
  }
  const { knex, kind, describe } = await createKnex(location);
  try {
    await knex.raw('select 1');
  } catch (error) {
    await knex.destroy().catch(() => {});
    lock?.release();
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatabaseUnavailableError(`Cannot reach the database at ${describe}: ${reason}`, {
      cause: error,
    });
  }
  return {
    knex,
    kind,
    ...('url' in location ? { url: location.url } : {}),
    close: async () => {
      await knex.destroy();
      lock?.release();
    },
  };
}

async function createKnex(
  location: DatabaseLocation,
): Promise<{ knex: Knex; kind: DatabaseKind; describe: string }> {
  if ('url' in location) {
    const knex = knexFactory({
      client: 'pg',
      log: QUIET_KNEX_LOG,
      connection: { connectionString: location.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: CONNECT_TIMEOUT_MS * 2,
    });
    return { knex, kind: 'postgres', describe: redactUrl(location.url) };
  }
  if ('pgliteDir' in location) {
    const knex = knexFactory({
      client: ClientPgLite,
      dialect: 'postgres',
      log: QUIET_KNEX_LOG,
      connection: { filename: location.pgliteDir },
    } as Knex.Config);
    return { knex, kind: 'pglite', describe: `embedded PGlite in ${location.pgliteDir}` };
  }
  const knex = knexFactory({
    client: ClientPgLite,
    dialect: 'postgres',
    connection: {},
  } as Knex.Config);
  return { knex, kind: 'pglite', describe: 'embedded PGlite in memory' };
}

/** A Postgres URL with its password hidden, for messages. */
function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
