import type { Membership, TenantRole, User } from '@labvisor/shared';
import type { Knex } from 'knex';

/** A users row, as stored. */
export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  is_platform_admin: boolean;
  disabled: boolean;
  created_at: Date;
  last_login_at: Date | null;
  /** The single sign-on identity the user is bound to (issuer and subject), once signed in so. */
  oidc_issuer: string | null;
  oidc_subject: string | null;
}

/** The API view of a user row. */
export function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    isPlatformAdmin: row.is_platform_admin,
    disabled: row.disabled,
    hasPassword: row.password_hash !== null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Finds a user by email (case-insensitive), or undefined. */
export async function findUserByEmail(knex: Knex, email: string): Promise<UserRow | undefined> {
  return knex<UserRow>('users').where({ email: email.toLowerCase() }).first();
}

/** A user row with their tenant roles, read in the same query. */
export type UserWithRoles = UserRow & { tenant_roles: Array<[string, TenantRole]> | string };

/** The select expression of a user's tenant roles, as a JSON array of `[tenantId, role]`. */
export const TENANT_ROLES_COLUMN =
  "(select coalesce(json_agg(json_build_array(m.tenant_id, m.role)), '[]'::json) from memberships m where m.user_id = users.id) as tenant_roles";

/** A user with their tenant roles, by id, in one query (authentication loads the actor so). */
export async function findUserWithRolesById(
  knex: Knex,
  id: string,
): Promise<UserWithRoles | undefined> {
  return knex('users')
    .where({ id })
    .first<UserWithRoles | undefined>('users.*', knex.raw(TENANT_ROLES_COLUMN));
}

/** Splits a {@link UserWithRoles} into the user and their roles by tenant. */
export function splitRoles(row: UserWithRoles): {
  user: UserRow;
  roles: Map<string, TenantRole>;
} {
  const { tenant_roles: raw, ...user } = row;
  const pairs = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<[string, TenantRole]>;
  return { user, roles: new Map(pairs) };
}

/** Finds a user by id, or undefined. */
export async function findUserById(knex: Knex, id: string): Promise<UserRow | undefined> {
  return knex<UserRow>('users').where({ id }).first();
}

/** Creates a user and returns the row. */
export async function insertUser(
  knex: Knex,
  user: { email: string; name: string; passwordHash: string | null; isPlatformAdmin?: boolean },
): Promise<UserRow> {
  const [row] = await knex<UserRow>('users')
    .insert({
      email: user.email.toLowerCase(),
      name: user.name,
      password_hash: user.passwordHash,
      is_platform_admin: user.isPlatformAdmin ?? false,
    })
    .returning('*');
  return row!;
}

/** Replaces a user's password hash. */
export async function setPasswordHash(knex: Knex, userId: string, hash: string): Promise<void> {
  await knex('users').where({ id: userId }).update({ password_hash: hash });
}

/** Records a successful sign-in. */
export async function touchLastLogin(knex: Knex, userId: string): Promise<void> {
  await knex('users').where({ id: userId }).update({ last_login_at: knex.fn.now() });
}

/** Whether any platform admin exists. */
export async function hasPlatformAdmin(knex: Knex): Promise<boolean> {
  return (await knex('users').where({ is_platform_admin: true }).first('id')) !== undefined;
}

/** The tenants a user belongs to, with their role in each. */
export async function listMemberships(knex: Knex, userId: string): Promise<Membership[]> {
  const rows = await knex('memberships')
    .join('tenants', 'tenants.id', 'memberships.tenant_id')
    .where('memberships.user_id', userId)
    .orderBy('tenants.name')
    .select<{ tenant_id: string; name: string; role: TenantRole }[]>(
      'memberships.tenant_id',
      'tenants.name',
      'memberships.role',
    );
  return rows.map((row) => ({ tenantId: row.tenant_id, tenantName: row.name, role: row.role }));
}

/** Every user, by email. */
export async function listUsers(knex: Knex): Promise<UserRow[]> {
  return knex<UserRow>('users').orderBy('email');
}

/** Renames, disables or enables a user; answers the updated row. */
export async function updateUser(
  knex: Knex,
  id: string,
  changes: { name?: string | undefined; disabled?: boolean | undefined },
): Promise<UserRow> {
  const [row] = await knex<UserRow>('users')
    .where({ id })
    .update({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
    })
    .returning('*');
  return row!;
}
