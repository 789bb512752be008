import { afterEach, describe, expect, it } from 'vitest';
import { TEST_DATABASES } from '../../test/support/databases.js';
import type { Database } from './database.js';
import { MIGRATIONS, migrateToLatest } from './migrate.js';

describe.each(TEST_DATABASES)('migrations on $name', (kind) => {
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });

  it.skipIf(kind.skipReason)('creates every table once and is idempotent', async () => {
    database = await kind.open();
    expect(await migrateToLatest(database.knex)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await migrateToLatest(database.knex)).toEqual([]);
    const tables = await database
      .knex('information_schema.tables')
      .where({ table_schema: 'public' })
      .pluck('table_name');
    for (const table of [
      'tenants',
      'quotas',
      'users',
      'memberships',
      'api_tokens',
      'sessions',
      'images',
      'vms',
      'snapshots',
      'usage_intervals',
      'audit_log',
    ]) {
      expect(tables).toContain(table);
    }
  });

  it.skipIf(kind.skipReason)(
    'rolls back a failed migration whole, leaving the schema as it was',
    async () => {
      database = await kind.open();
      await migrateToLatest(database.knex);
      const broken = {
        name: '9999_broken',
        up: async (knex: Database['knex']) => {
          await knex.raw('create table half_done (id integer)');
          await knex.raw('select * from no_such_table');
        },
      };
      await expect(migrateToLatest(database.knex, [...MIGRATIONS, broken])).rejects.toThrow(
        /no_such_table/,
      );
      expect(await database.knex.schema.hasTable('half_done')).toBe(false);
      const applied = await database.knex('schema_migrations').pluck('name');
      expect(applied).toEqual(MIGRATIONS.map((m) => m.name));
    },
  );
});
