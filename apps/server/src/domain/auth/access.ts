import type { TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';

const ROLE_RANK: Record<TenantRole, number> = { member: 0, instructor: 1, admin: 2 };

/** The more powerful of two roles. */
export function higherRole(a: TenantRole, b: TenantRole): TenantRole {
  return ROLE_RANK[a] >= ROLE_RANK[b] ? a : b;
}

/** Who is acting: the user and their role in each tenant. */
export interface Actor {
  user: UserRow;
  roles: ReadonlyMap<string, TenantRole>;
}

/** Loads the acting user's tenant roles. */
export async function loadActor(knex: Knex, user: UserRow): Promise<Actor> {
  const rows = await knex('memberships')
    .where({ user_id: user.id })
    .select<{ tenant_id: string; role: TenantRole }[]>('tenant_id', 'role');
  return { user, roles: new Map(rows.map((row) => [row.tenant_id, row.role])) };
}

/** The actor's effective role in a tenant; platform admins act as tenant admins everywhere. */
export function roleIn(actor: Actor, tenantId: string): TenantRole | undefined {
  if (actor.user.is_platform_admin) return 'admin';
  return actor.roles.get(tenantId);
}

/** Whether the actor holds at least `role` in the tenant. */
export function hasRole(actor: Actor, tenantId: string, role: TenantRole): boolean {
  const actual = roleIn(actor, tenantId);
  return actual !== undefined && ROLE_RANK[actual] >= ROLE_RANK[role];
}

/**
 * Requires at least `role` in the tenant. Someone outside the tenant gets NOT_FOUND (its existence
 * is not revealed); a member with too small a role gets FORBIDDEN.
 */
export function requireRole(actor: Actor, tenantId: string, role: TenantRole): void {
  if (roleIn(actor, tenantId) === undefined) throw tenantNotFound();
  if (!hasRole(actor, tenantId, role)) {
    throw new AppError('FORBIDDEN', `This needs the ${role} role in the tenant.`);
  }
}

/** Requires a platform admin. */
export function requirePlatformAdmin(actor: Actor): void {
  if (!actor.user.is_platform_admin)
    throw new AppError('FORBIDDEN', 'Only platform admins can do this.');
}

/** The NOT_FOUND answered for a tenant the actor cannot see. */
export function tenantNotFound(): AppError {
  return new AppError('NOT_FOUND', 'No such tenant.');
}
