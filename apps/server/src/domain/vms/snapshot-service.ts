import type { Engine } from '@labvisor/engine';
import { RESOURCE_HOLDING_STATES, type VmState } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { findSnapshot, listSnapshots, type SnapshotRow } from '../../db/queries/snapshots.js';
import { findVmById, recordVmState, type VmRow } from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import type { Actor } from '../auth/access.js';
import { admit, startRequestOf } from '../quota/admission.js';
import type { VmService } from './vm-service.js';

const holdsResources = (state: VmState) => RESOURCE_HOLDING_STATES.includes(state);

/** The disk a disk-only snapshot is admitted for: a MiB, so a tenant at its `diskGib` takes none. */
const SNAPSHOT_MIN_DISK_GIB = 1 / 1024;

/**
 * Snapshots of VMs: taken and restored through the engine (internal qcow2 snapshots, named by the
 * snapshot's id), counted against the tenant's `snapshots` and `diskGib` quotas (a memory
 * snapshot asks for its RAM), kept as a timeline with parents.
 */
export class SnapshotService {
  constructor(private readonly deps: { knex: Knex; engine: Engine; vms: VmService }) {}

  /** A VM's snapshots, oldest first. */
  async list(actor: Actor, vmId: string): Promise<SnapshotRow[]> {
    const vm = await this.deps.vms.get(actor, vmId);
    return listSnapshots(this.deps.knex, vm.id);
  }

  /** Takes a snapshot, with memory when asked (only while the VM runs or is paused). */
  async create(
    actor: Actor,
    vmId: string,
    request: { name: string; memory?: boolean },
    ip?: string,
  ): Promise<SnapshotRow> {
    const { knex, engine } = this.deps;
    const vm = await this.deps.vms.get(actor, vmId);
    let reserved: SnapshotRow;
    try {
      const admitted = await admit(knex, {
        tenantId: vm.tenant_id,
        // A snapshot pins disk: its memory state, and the blocks the guest writes after it.
        request: {
          snapshots: 1,
          diskGib: request.memory ? vm.memory_mib / 1024 : SNAPSHOT_MIN_DISK_GIB,
        },
        host: engine.capacity().allocatable,
        dryRun: false,
        write: async (trx) => {
          const [row] = await trx<SnapshotRow>('snapshots')
            .insert({
              vm_id: vm.id,
              name: request.name,
              with_memory: request.memory ?? false,
              parent_id: vm.current_snapshot_id,
            })
            .returning('*');
          return row!;
        },
      });
      if (admitted.dryRun) throw new Error('unreachable: not a dry run');
      reserved = admitted.value;
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError(
          'CONFLICT',
          `VM "${vm.name}" already has a snapshot named "${request.name}".`,
        );
      throw error;
    }
    try {
      const info = await engine.createSnapshot(vm.id, {
        name: reserved.id,
        memory: request.memory ?? false,
      });
      const [row] = await knex<SnapshotRow>('snapshots')
        .where({ id: reserved.id })
        .update({ size_bytes: info.sizeBytes })
        .returning('*');
      await knex('vms').where({ id: vm.id }).update({ current_snapshot_id: reserved.id });
      await recordAudit(knex, {
        actorId: actor.user.id,
        tenantId: vm.tenant_id,
        action: 'snapshot.create',
        targetType: 'vm',
        targetId: vm.id,
        ip,
        details: { snapshotId: reserved.id, name: request.name, memory: request.memory ?? false },
      });
      await this.deps.vms.announceActivity(vm.id);
      return row!;
    } catch (error) {
      await knex('snapshots').where({ id: reserved.id }).delete();
      throw error;
    }
  }

  /**
   * Restores a snapshot. A memory snapshot of a stopped VM starts it (admitted like a start); a
   * disk snapshot of a running VM restarts it on the restored disk.
   */
  async restore(actor: Actor, vmId: string, snapshotId: string, ip?: string): Promise<VmRow> {
    const { knex, engine } = this.deps;
    const vm = await this.deps.vms.get(actor, vmId);
    const snapshot = await this.#find(vm, snapshotId);
    if (snapshot.with_memory && !holdsResources(vm.state)) {
      await admit(knex, {
        tenantId: vm.tenant_id,
        ownerId: vm.owner_id,
        request: startRequestOf(vm),
        host: engine.capacity().allocatable,
        dryRun: false,
        write: (trx) => recordVmState(trx, vm.id, { state: 'starting', desired: 'running' }),
      });
    }
    try {
      await engine.restoreSnapshot(vm.id, snapshot.id);
    } catch (error) {
      const status = await engine.getVm(vm.id).catch(() => undefined);
      if (status)
        await recordVmState(knex, vm.id, { state: status.state, reason: status.cause ?? null });
      throw error;
    }
    await knex('vms').where({ id: vm.id }).update({ current_snapshot_id: snapshot.id });
    await recordAudit(knex, {
      actorId: actor.user.id,
      tenantId: vm.tenant_id,
      action: 'snapshot.restore',
      targetType: 'vm',
      targetId: vm.id,
      ip,
      details: { snapshotId: snapshot.id, name: snapshot.name },
    });
    await this.deps.vms.announceActivity(vm.id);
    await this.deps.vms.idle();
    return (await findVmById(knex, vm.id))!;
  }

  /** Deletes a snapshot; its children keep their place in the timeline without a parent. */
  async delete(actor: Actor, vmId: string, snapshotId: string, ip?: string): Promise<void> {
    const { knex, engine } = this.deps;
    const vm = await this.deps.vms.get(actor, vmId);
    const snapshot = await this.#find(vm, snapshotId);
    await engine.deleteSnapshot(vm.id, snapshot.id).catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'NOT_FOUND') throw error;
    });
    await knex('snapshots').where({ id: snapshot.id }).delete();
    await recordAudit(knex, {
      actorId: actor.user.id,
      tenantId: vm.tenant_id,
      action: 'snapshot.delete',
      targetType: 'vm',
      targetId: vm.id,
      ip,
      details: { snapshotId: snapshot.id, name: snapshot.name },
    });
    await this.deps.vms.announceActivity(vm.id);
  }

  async #find(vm: VmRow, snapshotId: string): Promise<SnapshotRow> {
    const snapshot = await findSnapshot(this.deps.knex, vm.id, snapshotId);
    if (!snapshot) throw new AppError('NOT_FOUND', 'No such snapshot.');
    return snapshot;
  }
}
