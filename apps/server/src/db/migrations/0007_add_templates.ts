import type { Knex } from 'knex';

/**
 * Instant labs: whether an image's guest runs the Labvisor agent (its VMs can start as clones of
 * a booted template) and how each VM's guest came to run at its last start.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table images add column guest_agent boolean not null default false');
  await knex.raw(
    "alter table vms add column boot_path text check (boot_path in ('cold', 'template', 'saved-state', 'snapshot'))",
  );
}
