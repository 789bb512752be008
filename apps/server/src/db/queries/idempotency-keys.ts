import type { Knex } from 'knex';

/** How long an `Idempotency-Key` answers the VM it created; after that it may be used again. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;

/** A create remembered under its key. */
export interface IdempotencyKeyRow {
  request_hash: string;
  vm_id: string;
}

/** The create a user made under `key` within the last day, if any. */
export async function findIdempotencyKey(
  knex: Knex,
  userId: string,
  key: string,
): Promise<IdempotencyKeyRow | undefined> {
  return knex('idempotency_keys')
    .where({ user_id: userId, key })
    .andWhereRaw(`created_at > now() - interval '${IDEMPOTENCY_KEY_TTL_HOURS} hours'`)
    .first<IdempotencyKeyRow | undefined>('request_hash', 'vm_id');
}

/** Remembers a create under its key (inside the create's transaction); an expired entry is replaced. */
export async function recordIdempotencyKey(
  trx: Knex.Transaction,
  entry: { userId: string; key: string; requestHash: string; vmId: string },
): Promise<void> {
  await trx('idempotency_keys')
    .where({ user_id: entry.userId, key: entry.key })
    .andWhereRaw(`created_at <= now() - interval '${IDEMPOTENCY_KEY_TTL_HOURS} hours'`)
    .delete();
  await trx('idempotency_keys').insert({
    user_id: entry.userId,
    key: entry.key,
    request_hash: entry.requestHash,
    vm_id: entry.vmId,
  });
}
