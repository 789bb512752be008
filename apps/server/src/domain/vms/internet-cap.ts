import type { NetworkMode } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { TenantRow } from '../../db/queries/tenants.js';
import { AppError } from '../../errors.js';

/** Whether a VM with `mode` reaches the internet in a tenant whose class network does or not. */
export function reachesInternet(mode: NetworkMode, classInternet: boolean): boolean {
  return mode === 'internet' || (mode === 'class' && classInternet);
}

/**
 * Refuses, with QUOTA_EXCEEDED (`resource: "internetVms"`), a change after which more of the
 * tenant's VMs would reach the internet than its cap. `vms` are the tenant's VMs as the change
 * leaves them (`adding`: one more; `classInternet`: the tenant's class egress after it). Call it
 * in the transaction that holds the tenant's quota row, so that parallel changes count each other.
 */
export async function assertInternetCap(
  trx: Knex,
  tenant: TenantRow,
  change: { adding?: NetworkMode; except?: string; classInternet?: boolean },
): Promise<void> {
  const cap = tenant.max_internet_vms;
  const classInternet = change.classInternet ?? tenant.class_internet;
  if (cap === null) return;
  if (change.adding && !reachesInternet(change.adding, classInternet)) return;
  const query = trx('vms')
    .where({ tenant_id: tenant.id })
    .whereNull('pool_id')
    .whereIn('network', classInternet ? ['internet', 'class'] : ['internet']);
  if (change.except) query.whereNot({ id: change.except });
  const [counted] = await query.count<{ count: string }[]>({ count: '*' });
  const used = Number(counted?.count ?? 0);
  const requested = change.adding ? 1 : 0;
  if (used + requested <= cap) return;
  throw new AppError(
    'QUOTA_EXCEEDED',
    `This tenant may have ${cap} VMs that reach the internet; ${used} do.`,
    { resource: 'internetVms', limit: cap, used, requested },
  );
}

/** Locks the tenant's quota row for the rest of the transaction (the admission's lock). */
export async function lockTenantQuota(trx: Knex, tenantId: string): Promise<void> {
  await trx('quotas').where({ tenant_id: tenantId }).forUpdate().first();
}
