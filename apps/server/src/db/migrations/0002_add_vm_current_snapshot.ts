import type { Knex } from 'knex';

/** Remembers which snapshot a VM's disk descends from, so new snapshots get the right parent. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'alter table vms add column current_snapshot_id uuid references snapshots(id) on delete set null',
  );
  await knex.raw('create index snapshots_vm_id_created_idx on snapshots (vm_id, created_at)');
}
