import type { NetworkMode, PoolSetting } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { VmRow } from './vms.js';

/** A pools row. */
export interface PoolRow {
  id: string;
  tenant_id: string;
  image_id: string;
  vcpus: number;
  memory_mib: number;
  disk_gib: number;
  count: number;
  class_hours_only: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A pool with its image's name and how many of its VMs are ready (paused) or starting. */
export interface PoolSummaryRow extends PoolRow {
  image_name: string;
  ready: number;
  starting: number;
}

/** The VM size a pool keeps, as a pools or vms row's columns. */
export function poolSizeColumns(
  setting: Pick<PoolSetting, 'imageId' | 'vcpus' | 'memoryMib' | 'diskGib'>,
) {
  return {
    image_id: setting.imageId,
    vcpus: setting.vcpus,
    memory_mib: setting.memoryMib,
    disk_gib: setting.diskGib,
  };
}

/** Every pool (of one tenant, when given), with what it holds, by image name and size. */
export async function listPools(knex: Knex, tenantId?: string): Promise<PoolSummaryRow[]> {
  const rows = await knex('pools')
    .join('images', 'images.id', 'pools.image_id')
    .leftJoin('vms', 'vms.pool_id', 'pools.id')
    .modify((query) => {
      if (tenantId) query.where('pools.tenant_id', tenantId);
    })
    .groupBy('pools.id', 'images.name')
    .orderBy([
      { column: 'images.name' },
      { column: 'pools.vcpus' },
      { column: 'pools.memory_mib' },
      { column: 'pools.disk_gib' },
    ])
    .select<(PoolRow & { image_name: string; ready: string; starting: string })[]>(
      'pools.*',
      'images.name as image_name',
      knex.raw("count(vms.id) filter (where vms.state = 'paused') as ready"),
      knex.raw("count(vms.id) filter (where vms.state = 'starting') as starting"),
    );
  return rows.map((row) => ({ ...row, ready: Number(row.ready), starting: Number(row.starting) }));
}

/**
 * Sets a tenant's pools to `settings`: each is created or given its count; a pool left out keeps
 * its row with count 0 until its VMs are gone.
 */
export async function writePools(
  trx: Knex.Transaction,
  tenantId: string,
  settings: PoolSetting[],
): Promise<void> {
  await trx('pools').where({ tenant_id: tenantId }).update({ count: 0, updated_at: trx.fn.now() });
  for (const setting of settings) {
    await trx('pools')
      .insert({
        tenant_id: tenantId,
        ...poolSizeColumns(setting),
        count: setting.count,
        class_hours_only: setting.classHoursOnly,
      })
      .onConflict(['tenant_id', 'image_id', 'vcpus', 'memory_mib', 'disk_gib'])
      .merge({
        count: setting.count,
        class_hours_only: setting.classHoursOnly,
        updated_at: trx.fn.now(),
      });
  }
}

/** A pool's VMs, oldest first. */
export async function listPooledVms(knex: Knex, poolId: string): Promise<VmRow[]> {
  return knex<VmRow>('vms').where({ pool_id: poolId }).orderBy('created_at');
}

/** Deletes a pooled VM's row unless a launch took it meanwhile; true when it was deleted. */
export async function deletePooledVm(knex: Knex, vmId: string): Promise<boolean> {
  return (await knex('vms').where({ id: vmId }).whereNotNull('pool_id').delete()) > 0;
}

/** Deletes the pools of count 0 that hold no VM. */
export async function deleteEmptiedPools(knex: Knex): Promise<void> {
  await knex('pools')
    .where({ count: 0 })
    .whereNotExists((query) => query.select(1).from('vms').whereRaw('vms.pool_id = pools.id'))
    .delete();
}

/**
 * Locks and answers a ready (paused) VM of the tenant's pool of this image and size, the oldest
 * first; undefined when there is none. Run inside the transaction that takes it.
 */
export async function lockReadyPooledVm(
  trx: Knex.Transaction,
  tenantId: string,
  size: Pick<PoolSetting, 'imageId' | 'vcpus' | 'memoryMib' | 'diskGib'>,
  network: NetworkMode,
): Promise<VmRow | undefined> {
  return trx<VmRow>('vms')
    .where({ tenant_id: tenantId, state: 'paused', network, ...poolSizeColumns(size) })
    .whereNotNull('pool_id')
    .orderBy('created_at')
    .forUpdate()
    .skipLocked()
    .first();
}
