import type { Knex } from 'knex';

/** A warm pool may be kept only during its tenant's class hours (emptied outside them). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table pools add column class_hours_only boolean not null default false');
}
