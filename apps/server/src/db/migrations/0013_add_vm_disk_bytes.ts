import type { Knex } from 'knex';

/**
 * The bytes a VM takes on the host's disk (its overlay, snapshots with their memory states, a
 * suspend file), as the engine last measured them: the tenant's `diskGib` counts the larger of
 * this and the disk size the VM was given.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table vms add column disk_bytes bigint not null default 0');
}
