import type { NetworkMode, QuotaLimits, Tenant, TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { quotaColumns } from './quotas.js';

/** The limits a new tenant gets until a platform admin sets others. */
export const DEFAULT_QUOTA_LIMITS: QuotaLimits = {
  runningVms: 5,
  vcpus: 8,
  memoryMib: 4096,
  diskGib: 50,
  snapshots: 20,
  vmHoursPerMonth: 200,
};

/** A tenants row. */
export interface TenantRow {
  id: string;
  name: string;
  recording_enabled: boolean;
  default_image_id: string | null;
  idle_suspend_minutes: number | null;
  default_network: NetworkMode;
  class_internet: boolean;
  bandwidth_mbps: number | null;
  max_internet_vms: number | null;
  /** Each member's home disk, in GiB; 0: no homes. */
  home_disk_gib: number;
  created_at: Date;
  updated_at: Date;
}

/** Creates a tenant with its quota row, in the caller's transaction. */
export async function insertTenant(
  knex: Knex,
  tenant: { name: string; limits?: QuotaLimits },
): Promise<TenantRow> {
  const limits = tenant.limits ?? DEFAULT_QUOTA_LIMITS;
  const [row] = await knex<TenantRow>('tenants').insert({ name: tenant.name }).returning('*');
  await knex('quotas').insert({ tenant_id: row!.id, ...quotaColumns(limits) });
  return row!;
}

/** Adds a user to a tenant with a role, or changes their role. */
export async function upsertMembership(
  knex: Knex,
  membership: { tenantId: string; userId: string; role: TenantRole },
): Promise<void> {
  await knex('memberships')
    .insert({ tenant_id: membership.tenantId, user_id: membership.userId, role: membership.role })
    .onConflict(['tenant_id', 'user_id'])
    .merge(['role']);
}

/** The API view of a tenant row; `networkModes` are the platform's. */
export function toTenant(row: TenantRow, networkModes: NetworkMode[]): Tenant {
  return {
    id: row.id,
    name: row.name,
    recordingEnabled: row.recording_enabled,
    defaultImageId: row.default_image_id,
    idleSuspendMinutes: row.idle_suspend_minutes,
    defaultNetwork: row.default_network,
    classInternet: row.class_internet,
    bandwidthMbps: row.bandwidth_mbps,
    maxInternetVms: row.max_internet_vms,
    homeDiskGib: row.home_disk_gib,
    networkModes,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Finds a tenant by id, or undefined. */
export async function findTenantById(knex: Knex, id: string): Promise<TenantRow | undefined> {
  return knex<TenantRow>('tenants').where({ id }).first();
}

/** Tenants by name: every one, or those with the given ids. */
export async function listTenants(knex: Knex, ids?: string[]): Promise<TenantRow[]> {
  const query = knex<TenantRow>('tenants').orderBy('name');
  if (ids) query.whereIn('id', ids);
  return query;
}

/** Renames a tenant or switches its recording; answers the updated row. */
export async function updateTenant(
  knex: Knex,
  id: string,
  changes: {
    name?: string | undefined;
    recordingEnabled?: boolean | undefined;
    defaultImageId?: string | null | undefined;
    idleSuspendMinutes?: number | null | undefined;
    defaultNetwork?: NetworkMode | undefined;
    classInternet?: boolean | undefined;
    bandwidthMbps?: number | null | undefined;
    maxInternetVms?: number | null | undefined;
    homeDiskGib?: number | undefined;
  },
): Promise<TenantRow> {
  const [row] = await knex<TenantRow>('tenants')
    .where({ id })
    .update({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.recordingEnabled !== undefined
        ? { recording_enabled: changes.recordingEnabled }
        : {}),
      ...(changes.defaultImageId !== undefined ? { default_image_id: changes.defaultImageId } : {}),
      ...(changes.idleSuspendMinutes !== undefined
        ? { idle_suspend_minutes: changes.idleSuspendMinutes }
        : {}),
      ...(changes.defaultNetwork !== undefined ? { default_network: changes.defaultNetwork } : {}),
      ...(changes.classInternet !== undefined ? { class_internet: changes.classInternet } : {}),
      ...(changes.bandwidthMbps !== undefined ? { bandwidth_mbps: changes.bandwidthMbps } : {}),
      ...(changes.maxInternetVms !== undefined ? { max_internet_vms: changes.maxInternetVms } : {}),
      ...(changes.homeDiskGib !== undefined ? { home_disk_gib: changes.homeDiskGib } : {}),
      updated_at: knex.fn.now(),
    })
    .returning('*');
  return row!;
}

/** Deletes a tenant (its quota and memberships go with it; VMs hold it: a foreign-key error). */
export async function deleteTenant(knex: Knex, id: string): Promise<void> {
  await knex('tenants').where({ id }).delete();
}
