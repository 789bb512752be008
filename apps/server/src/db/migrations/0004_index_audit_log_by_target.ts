import type { Knex } from 'knex';

/** Lets a VM's activity (its audit entries, newest first) be read without scanning the whole log. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'create index audit_log_target_idx on audit_log (target_type, target_id, id desc)',
  );
}
