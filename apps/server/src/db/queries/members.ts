import type { Member, TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { readHoursThisMonthByUser } from './usage.js';

/** A tenant's members with their roles, by name. */
export async function listMembers(knex: Knex, tenantId: string): Promise<Member[]> {
  const rows = await knex('memberships')
    .join('users', 'users.id', 'memberships.user_id')
    .leftJoin('home_disks', (on) =>
      on
        .on('home_disks.tenant_id', 'memberships.tenant_id')
        .andOn('home_disks.user_id', 'memberships.user_id'),
    )
    .where('memberships.tenant_id', tenantId)
    .orderBy('users.name')
    .select<
      {
        user_id: string;
        email: string;
        name: string;
        role: TenantRole;
        limits: Member['limits'];
        home_gib: number | null;
        created_at: Date;
      }[]
    >(
      'memberships.user_id',
      'users.email',
      'users.name',
      'memberships.role',
      'memberships.limits',
      'home_disks.size_gib as home_gib',
      'memberships.created_at',
    );
  const hours = await readHoursThisMonthByUser(knex, tenantId);
  return rows.map((row) => ({
    userId: row.user_id,
    email: row.email,
    name: row.name,
    role: row.role,
    limits: row.limits ?? null,
    vmHoursThisMonth: hours.get(row.user_id) ?? 0,
    homeDiskGib: row.home_gib,
    createdAt: new Date(row.created_at).toISOString(),
  }));
}

/** Removes a member; false when they were not one. */
export async function deleteMembership(
  knex: Knex,
  tenantId: string,
  userId: string,
): Promise<boolean> {
  // `returning` rather than the affected-row count: knex-pglite does not report counts for deletes.
  const deleted = await knex('memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .delete()
    .returning('user_id');
  return deleted.length > 0;
}

/** Changes a member's role; false when they are not a member. */
export async function updateMemberRole(
  knex: Knex,
  tenantId: string,
  userId: string,
  role: TenantRole,
): Promise<boolean> {
  const updated = await knex('memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .update({ role })
    .returning('user_id');
  return updated.length > 0;
}

/** Sets (or, with null, clears) a member's own limits; false when they are not a member. */
export async function updateMemberLimits(
  knex: Knex,
  tenantId: string,
  userId: string,
  limits: Member['limits'],
): Promise<boolean> {
  const updated = await knex('memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .update({ limits: limits ? JSON.stringify(limits) : null })
    .returning('user_id');
  return updated.length > 0;
}
