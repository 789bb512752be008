import {
  type BootPath,
  type NetworkMode,
  RESOURCE_HOLDING_STATES,
  VM_STATES,
  type Vm,
  type VmState,
} from '@labvisor/shared';
import type { Knex } from 'knex';
import { isoOrNull } from './iso.js';

/** A vms row. */
export interface VmRow {
  id: string;
  tenant_id: string;
  /** Null for a warm pool's VM until a launch takes it. */
  owner_id: string | null;
  /** The warm pool holding this VM, until a launch takes it. */
  pool_id: string | null;
  image_id: string;
  name: string;
  vcpus: number;
  memory_mib: number;
  disk_gib: number;
  desired_state: 'stopped' | 'running' | 'paused' | 'suspended';
  state: VmState;
  state_reason: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  last_activity_at: Date | null;
  current_snapshot_id: string | null;
  boot_path: BootPath | null;
  /** Bytes on the host's disk as last measured (string: a bigint). */
  disk_bytes: string | number;
  network: NetworkMode;
  /** Its address on its network as the engine last reported it. */
  network_address: string | null;
  instance_type: 'virtual-machine' | 'container';
}

/** The API view of a VM row (a member's: pooled VMs are never shown). */
export function toVm(row: VmRow): Vm {
  if (row.owner_id === null) throw new Error(`VM ${row.id} is a warm pool's, not a member's`);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    ownerId: row.owner_id,
    imageId: row.image_id,
    name: row.name,
    vcpus: row.vcpus,
    memoryMib: row.memory_mib,
    diskGib: row.disk_gib,
    state: row.state,
    stateReason: row.state_reason,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    startedAt: isoOrNull(row.started_at),
    lastActivityAt: isoOrNull(row.last_activity_at),
    currentSnapshotId: row.current_snapshot_id,
    bootPath: row.boot_path,
    network: row.network,
    networkAddress: row.network === 'none' ? null : row.network_address,
    instanceType: row.instance_type,
  };
}

/** Finds a VM by id, or undefined. */
export async function findVmById(knex: Knex, id: string): Promise<VmRow | undefined> {
  return knex<VmRow>('vms').where({ id }).first();
}

/** A VM state to record: the state, why, what it should become and how it came to run. */
export interface VmStateChange {
  state: VmState;
  reason?: string | null;
  desired?: VmRow['desired_state'];
  bootPath?: BootPath;
  /** The guest's address on its network, as the engine reported it at a start. */
  networkAddress?: string;
}

/**
 * Records a state the engine observed (or an action began), with the usage interval that meters
 * running time: opened when the VM starts holding resources (a warm pool's VM, which has no owner
 * yet, is metered from when a member takes it), closed when it stops. Two statements in a
 * transaction: the VM's row locked, then updated with its interval opened or closed. The lock comes
 * first, in a statement of its own, because a statement sees the intervals committed when it began:
 * one that waited there for the row would miss the interval the write before it opened (and leave
 * it open). Undefined when the VM is gone.
 */
export async function recordVmState(
  knex: Knex,
  vmId: string,
  change: VmStateChange,
): Promise<VmRow | undefined> {
  const holding = `{${RESOURCE_HOLDING_STATES.join(',')}}`;
  const interval = RESOURCE_HOLDING_STATES.includes(change.state)
    ? `insert into usage_intervals (tenant_id, user_id, vm_id, vcpus, memory_mib, started_at)
       select tenant_id, owner_id, id, vcpus, memory_mib, now() from before
       where before.state <> all(:holding::text[]) and before.owner_id is not null`
    : // now() is when the statement's transaction began, which may be before the interval's
      // opening committed (this statement then waited for the VM's row): never end before it began.
      `update usage_intervals set ended_at = greatest(now(), started_at)
       where vm_id = :vmId and ended_at is null
         and exists (select 1 from before where before.state = any(:holding::text[]))`;
  return knex.transaction(async (trx) => {
    await trx('vms').where({ id: vmId }).forUpdate().first('id');
    const result = await trx.raw<{ rows: VmRow[] }>(
      `with before as (
       select id, state, tenant_id, owner_id, vcpus, memory_mib from vms where id = :vmId for update
     ), after as (
       update vms set
         state = :state,
         state_reason = :reason,
         desired_state = coalesce(:desired, vms.desired_state),
         boot_path = coalesce(:bootPath, vms.boot_path),
         network_address = coalesce(:networkAddress, vms.network_address),
         started_at = case when :state = 'running' and before.state <> 'running'
                      then now() else vms.started_at end,
         updated_at = now()
       from before where vms.id = before.id
       returning vms.*
     ), interval as (${interval})
     select * from after`,
      {
        vmId,
        holding,
        state: change.state,
        reason: change.reason ?? null,
        desired: change.desired ?? null,
        bootPath: change.bootPath ?? null,
        networkAddress: change.networkAddress ?? null,
      },
    );
    return result.rows[0];
  });
}

/** Records the bytes a VM takes on the host's disk, as the engine measured them. */
export async function recordDiskBytes(knex: Knex, vmId: string, bytes: number): Promise<void> {
  await knex('vms').where({ id: vmId }).update({ disk_bytes: bytes });
}

/** Starts metering a VM's running time for its owner. */
export async function openUsageInterval(knex: Knex, vm: VmRow): Promise<void> {
  await knex('usage_intervals').insert({
    tenant_id: vm.tenant_id,
    user_id: vm.owner_id,
    vm_id: vm.id,
    vcpus: vm.vcpus,
    memory_mib: vm.memory_mib,
    started_at: knex.fn.now(),
  });
}

/** How many VMs are in each state (every state named, zero when none). */
export async function countVmsByState(knex: Knex): Promise<Record<VmState, number>> {
  const counts = await knex('vms')
    .groupBy('state')
    .select<{ state: VmState; count: string | number }[]>('state', knex.raw('count(*) as count'));
  const byState = Object.fromEntries(VM_STATES.map((state) => [state, 0])) as Record<
    VmState,
    number
  >;
  for (const row of counts) byState[row.state] = Number(row.count);
  return byState;
}

/**
 * A class's labs: those of `ownerIds`, or of everyone with the member role (not its instructors'
 * or admins'), by name; never a warm pool's.
 */
export function memberLabsQuery(
  knex: Knex,
  tenantId: string,
  ownerIds?: string[],
): Knex.QueryBuilder<VmRow, VmRow[]> {
  return knex<VmRow>('vms')
    .where({ tenant_id: tenantId })
    .whereNull('pool_id')
    .whereIn(
      'owner_id',
      ownerIds ??
        knex('memberships').where({ tenant_id: tenantId, role: 'member' }).select('user_id'),
    )
    .orderBy('name');
}
