import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/** A database the data-layer tests run against: embedded PGlite and a real Postgres server. */
export interface TestDatabaseKind {
  name: 'pglite' | 'postgres';
  /** Why this kind cannot run here (only outside CI), or undefined when it can. */
  skipReason: string | undefined;
  /** Opens a fresh, empty database of this kind. */
  open(): Promise<Database>;
}

/** Creates an empty database on the throwaway Postgres server and returns its URL. */
export async function createPostgresDatabase(): Promise<string> {
  const adminUrl = inject('postgresUrl');
  const name = `test_${randomUUID().replaceAll('-', '')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Both database kinds, for `describe.each`. */
export const TEST_DATABASES: TestDatabaseKind[] = [
  {
    name: 'pglite',
    skipReason: undefined,
    open: () => openDatabase({ pgliteMemory: true }),
  },
  {
    name: 'postgres',
    skipReason: inject('postgresUrl') ? undefined : inject('postgresMissingReason'),
    open: async () => openDatabase({ url: await createPostgresDatabase() }),
  },
];

/** Opens a fresh database of the kind and migrates it. */
export async function openMigratedDatabase(kind: TestDatabaseKind): Promise<Database> {
  const database = await kind.open();
  await migrateToLatest(database.knex);
  return database;
}

/**
 * A fresh, migrated database for tests that boot guests (one kind per run, not both): on the
 * throwaway Postgres server when there is one, else embedded PGlite.
 */
export async function openVmTestDatabase(): Promise<Database> {
  const database = inject('postgresUrl')
    ? await openDatabase({ url: await createPostgresDatabase() })
    : await openDatabase({ pgliteMemory: true });
  await migrateToLatest(database.knex);
  return database;
}
