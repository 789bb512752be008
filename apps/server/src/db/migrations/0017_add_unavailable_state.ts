import type { Knex } from 'knex';

/** A VM whose host is out of reach (an Incus cluster member offline) is `unavailable`. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table vms
      drop constraint vms_state_check,
      add constraint vms_state_check check (state in ('stopped', 'starting', 'running', 'paused',
        'suspended', 'stopping', 'crashed', 'error', 'unavailable'))
  `);
}
