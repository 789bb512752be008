import type { Knex } from 'knex';

/**
 * Guest networks: how each VM reaches the network (`none`, `internet`, `class`) and its address
 * there as the engine last reported it; a tenant's default for new VMs and whether its class
 * network reaches the internet.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table vms
      add column network text not null default 'none'
        check (network in ('none', 'internet', 'class')),
      add column network_address text
  `);
  await knex.raw(`
    alter table tenants
      add column default_network text not null default 'none'
        check (default_network in ('none', 'internet', 'class')),
      add column class_internet boolean not null default false
  `);
}
