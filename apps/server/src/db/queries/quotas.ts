import type { QuotaLimits } from '@labvisor/shared';
import type { Knex } from 'knex';

/** Reads a tenant's limits; undefined when the tenant does not exist. `forUpdate` locks the row. */
export async function readLimits(
  knex: Knex,
  tenantId: string,
  options: { forUpdate?: boolean } = {},
): Promise<QuotaLimits | undefined> {
  const query = knex('quotas').where({ tenant_id: tenantId });
  if (options.forUpdate) query.forUpdate();
  const row = await query.first();
  if (!row) return undefined;
  return {
    runningVms: row.running_vms,
    vcpus: row.vcpus,
    memoryMib: row.memory_mib,
    diskGib: row.disk_gib,
    snapshots: row.snapshots,
    vmHoursPerMonth: row.vm_hours_per_month,
  };
}

/** The quotas row's columns for a set of limits. */
export function quotaColumns(limits: QuotaLimits) {
  return {
    running_vms: limits.runningVms,
    vcpus: limits.vcpus,
    memory_mib: limits.memoryMib,
    disk_gib: limits.diskGib,
    snapshots: limits.snapshots,
    vm_hours_per_month: limits.vmHoursPerMonth,
  };
}

/** Writes a tenant's limits. */
export async function writeLimits(
  knex: Knex,
  tenantId: string,
  limits: QuotaLimits,
): Promise<void> {
  await knex('quotas')
    .where({ tenant_id: tenantId })
    .update({ ...quotaColumns(limits), updated_at: knex.fn.now() });
}
