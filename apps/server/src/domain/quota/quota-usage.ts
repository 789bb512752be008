import type { QuotaLimits, QuotaUsage } from '@labvisor/shared';
import { RESOURCE_HOLDING_STATES } from '@labvisor/shared';
import type { Knex } from 'knex';
import { readHoursThisMonth } from '../../db/queries/usage.js';

/**
 * Sums what a tenant uses now: VMs holding host resources (the contract's starting, running and
 * paused, and stopping, which holds them until QEMU ends), stored disk (VM disks, members' home disks and the tenant's console recordings) and snapshots, metered hours this month; of one member's VMs when `ownerId` is given.
 */
export async function readUsage(
  knex: Knex,
  tenantId: string,
  ownerId?: string,
): Promise<QuotaUsage> {
  const vms = () =>
    knex('vms').where({ tenant_id: tenantId, ...(ownerId ? { owner_id: ownerId } : {}) });
  const running = await vms()
    .whereIn('state', RESOURCE_HOLDING_STATES)
    .first<{ vms: string; vcpus: string | null; memory: string | null }>(
      knex.raw('count(*) as vms'),
      knex.raw('sum(vcpus) as vcpus'),
      knex.raw('sum(memory_mib) as memory'),
    );
  // Each VM counts the larger of the disk it was given and the bytes it really takes (snapshots
  // and saved memory states can pin more than its disk's size).
  const stored = await vms().first<{ disk: string | null }>(
    knex.raw('sum(greatest(disk_gib::numeric, disk_bytes / 1073741824.0)) as disk'),
  );
  // Members' home disks outlive their labs: each counts its size.
  const homes = await knex('home_disks')
    .where({ tenant_id: tenantId, ...(ownerId ? { user_id: ownerId } : {}) })
    .first<{ gib: string | null }>(knex.raw('sum(size_gib) as gib'));
  // Console recordings are the tenant's, kept after their VM: they count in its disk.
  const recorded = ownerId
    ? undefined
    : await knex('console_recordings')
        .where({ tenant_id: tenantId })
        .first<{ bytes: string | null }>(knex.raw('sum(size_bytes) as bytes'));
  const snapshots = await knex('snapshots')
    .join('vms', 'vms.id', 'snapshots.vm_id')
    .where('vms.tenant_id', tenantId)
    .modify((q) => {
      if (ownerId) q.where('vms.owner_id', ownerId);
    })
    .first<{ count: string }>(knex.raw('count(*) as count'));
  const hours = await readHoursThisMonth(knex, tenantId, ownerId);
  return {
    runningVms: Number(running?.vms ?? 0),
    vcpus: Number(running?.vcpus ?? 0),
    memoryMib: Number(running?.memory ?? 0),
    diskGib:
      roundUp(Number(stored?.disk ?? 0)) +
      Number(homes?.gib ?? 0) +
      roundGib(Number(recorded?.bytes ?? 0)),
    snapshots: Number(snapshots?.count ?? 0),
    vmHoursPerMonth: hours,
  };
}

/** Bytes in GiB, rounded up to a hundredth. */
function roundGib(bytes: number): number {
  return roundUp(bytes / 1024 ** 3);
}

/** A number rounded up to a hundredth. */
function roundUp(value: number): number {
  return Math.ceil(value * 100) / 100;
}

/** A member's own limits inside the tenant quota (each optional), set by a tenant admin. */
export type MemberLimits = Partial<
  Pick<QuotaLimits, 'runningVms' | 'vcpus' | 'memoryMib' | 'diskGib' | 'vmHoursPerMonth'>
>;

/** A member's limits, or undefined when they have none. */
export async function readMemberLimits(
  knex: Knex,
  tenantId: string,
  userId: string,
): Promise<MemberLimits | undefined> {
  const row = await knex('memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .first<{ limits: MemberLimits | null } | undefined>('limits');
  return row?.limits ?? undefined;
}

/** The members of a tenant who have their own monthly hour budget, with it, in one query. */
export async function readMemberHourBudgets(
  knex: Knex,
  tenantId: string,
): Promise<Map<string, number>> {
  const rows = await knex('memberships')
    .where({ tenant_id: tenantId })
    .whereRaw("limits->>'vmHoursPerMonth' is not null")
    .select<{ user_id: string; limits: MemberLimits }[]>('user_id', 'limits');
  return new Map(rows.map((row) => [row.user_id, row.limits.vmHoursPerMonth!]));
}
