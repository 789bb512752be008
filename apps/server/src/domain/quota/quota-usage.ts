import type { QuotaLimits, QuotaUsage } from '@labvisor/shared';
import { RESOURCE_HOLDING_STATES } from '@labvisor/shared';
import type { Knex } from 'knex';
import { hoursOf, secondsThisMonthQuery } from '../../db/queries/usage.js';
import { MAX_RECORDING_BYTES } from '../consoles/console-recordings.js';

/** The sums {@link readUsage} reads, each a number or its text (Postgres numerics and counts). */
type UsageSums = Record<
  'vms' | 'vcpus' | 'memory' | 'disk' | 'homes' | 'recorded' | 'imaged' | 'snapshots' | 'seconds',
  string | number | null
>;

/**
 * Sums what a tenant uses now, in one query: VMs holding host resources (the contract's starting,
 * running and paused, and stopping, which holds them until QEMU ends), stored disk (VM disks,
 * members' home disks, the tenant's console recordings and its own images) and snapshots,
 * metered hours this month; of one member's VMs when `ownerId` is given.
 */
export async function readUsage(
  knex: Knex,
  tenantId: string,
  ownerId?: string,
): Promise<QuotaUsage> {
  const vms = () =>
    knex('vms').where({ tenant_id: tenantId, ...(ownerId ? { owner_id: ownerId } : {}) });
  const holding = () => vms().whereIn('state', RESOURCE_HOLDING_STATES);
  const [sums] = await knex.select<UsageSums[]>(
    holding().count('*').as('vms'),
    holding().sum('vcpus').as('vcpus'),
    holding().sum('memory_mib').as('memory'),
    // Each VM counts the larger of the disk it was given and the bytes it really takes (snapshots
    // and saved memory states can pin more than its disk's size).
    vms()
      .select(knex.raw('sum(greatest(disk_gib::numeric, disk_bytes / 1073741824.0))'))
      .as('disk'),
    // Members' home disks outlive their labs: each counts its size.
    knex('home_disks')
      .where({ tenant_id: tenantId, ...(ownerId ? { user_id: ownerId } : {}) })
      .sum('size_gib')
      .as('homes'),
    // Console recordings are the tenant's, kept after their VM: they count in its disk, one being
    // written at its size cap (its bytes are known only when it ends).
    ownerId
      ? knex.raw('0 as recorded')
      : knex('console_recordings')
          .where({ tenant_id: tenantId })
          .select(
            knex.raw(
              'sum(case when ended_at is null then greatest(size_bytes, ?) else size_bytes end)',
              [MAX_RECORDING_BYTES],
            ),
          )
          .as('recorded'),
    // The tenant's own images (uploaded, or labs published as templates) are on the host's disk.
    ownerId
      ? knex.raw('0 as imaged')
      : knex('images').where({ tenant_id: tenantId }).sum('size_bytes').as('imaged'),
    knex('snapshots')
      .join('vms', 'vms.id', 'snapshots.vm_id')
      .where('vms.tenant_id', tenantId)
      .modify((q) => {
        if (ownerId) q.where('vms.owner_id', ownerId);
      })
      .count('*')
      .as('snapshots'),
    secondsThisMonthQuery(knex, tenantId, ownerId).as('seconds'),
  );
  return {
    runningVms: Number(sums?.vms ?? 0),
    vcpus: Number(sums?.vcpus ?? 0),
    memoryMib: Number(sums?.memory ?? 0),
    diskGib:
      roundUp(Number(sums?.disk ?? 0)) +
      Number(sums?.homes ?? 0) +
      roundGib(Number(sums?.recorded ?? 0) + Number(sums?.imaged ?? 0)),
    snapshots: Number(sums?.snapshots ?? 0),
    vmHoursPerMonth: hoursOf(Number(sums?.seconds ?? 0)),
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
