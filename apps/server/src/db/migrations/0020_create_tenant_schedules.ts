import type { Knex } from 'knex';

/**
 * A tenant's class hours: weekly sessions in its time zone, how long before a session its labs
 * resume, whether members may run labs outside them, and whether class hours were on at the last
 * check (so a session's end and start are acted on once, across restarts and replicas).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table tenant_schedules (
      tenant_id uuid primary key references tenants(id) on delete cascade,
      time_zone text not null,
      sessions jsonb not null,
      prepare_minutes int not null check (prepare_minutes between 0 and 120),
      allow_outside boolean not null,
      in_class_hours boolean,
      updated_at timestamptz not null default now()
    )
  `);
}
