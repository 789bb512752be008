import type { Knex } from 'knex';

/**
 * A tenant's idle policy: a VM with no real console input for this many minutes, and no
 * interactive console open, is suspended to disk (its work kept); null: never.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'alter table tenants add column idle_suspend_minutes integer check (idle_suspend_minutes > 0)',
  );
}
