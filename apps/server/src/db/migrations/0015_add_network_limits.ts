import type { Knex } from 'knex';

/**
 * Network limits a platform admin sets per tenant: each VM's bandwidth (megabits per second each
 * way) and how many of its VMs may reach the internet; null: unlimited.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table tenants
      add column bandwidth_mbps integer check (bandwidth_mbps between 1 and 100000),
      add column max_internet_vms integer check (max_internet_vms >= 0)
  `);
}
