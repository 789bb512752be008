import type { Knex } from 'knex';

/**
 * What a VM is: a virtual machine, or a system container (a container image, on the Incus
 * driver). Containers have a terminal but no desktop, and no suspend.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table vms add column instance_type text not null default 'virtual-machine'
      check (instance_type in ('virtual-machine', 'container'))
  `);
}
