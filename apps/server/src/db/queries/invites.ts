import type { Invite, TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isoOrNull } from './iso.js';

/** An invites row. */
export interface InviteRow {
  id: string;
  tenant_id: string;
  token_hash: string;
  role: TenantRole;
  expires_at: Date | null;
  max_uses: number | null;
  uses: number;
  allowed_domains: string[];
  created_by: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

/** Why no one can join with the invite now, as a sentence; undefined while it is usable. */
export function whyUnusable(row: InviteRow, now = new Date()): string | undefined {
  if (row.revoked_at) return 'This invite link was revoked; ask your instructor for a new one.';
  if (row.expires_at && new Date(row.expires_at) <= now)
    return 'This invite link has expired; ask your instructor for a new one.';
  if (row.max_uses !== null && row.uses >= row.max_uses)
    return 'This invite link has been used as many times as it allows; ask your instructor for a new one.';
  return undefined;
}

/** The API view of an invite row. */
export function toInvite(row: InviteRow): Invite {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    role: row.role,
    expiresAt: isoOrNull(row.expires_at),
    maxUses: row.max_uses,
    uses: row.uses,
    allowedDomains: row.allowed_domains,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: isoOrNull(row.revoked_at),
    usable: whyUnusable(row) === undefined,
  };
}

/** A tenant's invites, newest first. */
export async function listInvites(knex: Knex, tenantId: string): Promise<InviteRow[]> {
  return knex<InviteRow>('invites').where({ tenant_id: tenantId }).orderBy('created_at', 'desc');
}

/** Stores a new invite. */
export async function insertInvite(
  knex: Knex,
  invite: Pick<InviteRow, 'tenant_id' | 'token_hash' | 'role' | 'max_uses' | 'created_by'> & {
    expires_in_days: number | undefined;
    allowed_domains: string[];
  },
): Promise<InviteRow> {
  const { expires_in_days: days, allowed_domains: domains, ...columns } = invite;
  const [row] = await knex<InviteRow>('invites')
    .insert({
      ...columns,
      allowed_domains: JSON.stringify(domains) as unknown as string[],
      expires_at:
        days === undefined
          ? null
          : (knex.raw(`now() + make_interval(days => ?)`, [days]) as unknown as Date),
    })
    .returning('*');
  return row!;
}

/** The invite of a token (by its hash), locked for the caller's transaction when `forUpdate`. */
export async function findInviteByTokenHash(
  knex: Knex,
  tokenHash: string,
  options: { forUpdate?: boolean } = {},
): Promise<InviteRow | undefined> {
  const query = knex<InviteRow>('invites').where({ token_hash: tokenHash });
  if (options.forUpdate) query.forUpdate();
  return query.first();
}

/** Counts one more join with the invite. */
export async function countInviteUse(knex: Knex, inviteId: string): Promise<void> {
  await knex('invites').where({ id: inviteId }).increment('uses', 1);
}

/** Revokes an invite of the tenant; false when there is no such invite. */
export async function revokeInvite(
  knex: Knex,
  tenantId: string,
  inviteId: string,
): Promise<boolean> {
  const updated = await knex('invites')
    .where({ id: inviteId, tenant_id: tenantId })
    .update({ revoked_at: knex.raw('coalesce(revoked_at, now())') });
  return updated > 0;
}
