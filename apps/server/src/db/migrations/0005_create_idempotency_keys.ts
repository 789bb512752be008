import type { Knex } from 'knex';

/**
 * `Idempotency-Key`s of VM creates: the same user's same key answers the VM it created, so a
 * client retrying after a lost answer never creates a second VM. A key goes with its VM.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table idempotency_keys (
    user_id uuid not null references users(id) on delete cascade,
    key text not null check (length(key) between 1 and 255),
    request_hash text not null,
    vm_id uuid not null references vms(id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (user_id, key)
  )`);
}
