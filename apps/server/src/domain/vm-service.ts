import {
  canTransition,
  type Engine,
  RESOURCE_HOLDING_STATES,
  type VmBoot,
  type VmState,
  type VmStateEvent,
} from '@labvisor/engine';
import type { CreateVmRequest } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { isUniqueViolation } from '../db/errors.js';
import { recordAudit } from '../db/queries/audit.js';
import type { ImageRow } from '../db/queries/images.js';
import { findVmById, recordVmState, type VmRow } from '../db/queries/vms.js';
import { AppError } from '../http/errors.js';
import { type Actor, requireRole } from './access.js';
import { admit, createRequest, startRequestOf } from './admission.js';
import { guestConfigFor } from './guest-config.js';
import { canSeeVm, visibleVmsQuery, vmNotFound } from './vm-visibility.js';

/** A lifecycle action on an existing VM, as the API names it. */
export type VmAction = 'start' | 'stop' | 'reboot' | 'suspend' | 'resume';

const holdsResources = (state: VmState) => RESOURCE_HOLDING_STATES.includes(state);

/** How a VM boots from its image. */
function bootOf(image: ImageRow): VmBoot {
  if (image.kind === 'iso') return { kind: 'iso', isoPath: image.path };
  const baseDiskFormat = image.format === 'raw' ? 'raw' : 'qcow2';
  if (image.kind === 'kernel') {
    return {
      kind: 'kernel',
      kernelPath: image.kernel_path!,
      initrdPath: image.initrd_path!,
      cmdline: image.cmdline ?? '',
      baseDiskPath: image.path,
      baseDiskFormat,
    };
  }
  return { kind: 'disk', baseDiskPath: image.path, baseDiskFormat };
}

/**
 * VMs as the API sees them: access, admission, the desired state in Postgres, and the engine's
 * observed state written back. Engine work that takes long (boot, graceful stop, suspend) runs in
 * the background; the API answers with the transitional state (`starting`, `stopping`).
 */
export class VmService {
  readonly #knex: Knex;
  readonly #engine: Engine;
  readonly #logger: Logger;
  readonly #background = new Set<Promise<void>>();
  /** Per-VM chain of state writes, so observed states land in the order they happened. */
  readonly #stateWrites = new Map<string, Promise<unknown>>();

  constructor(deps: { knex: Knex; engine: Engine; logger: Logger }) {
    this.#knex = deps.knex;
    this.#engine = deps.engine;
    this.#logger = deps.logger;
    this.#engine.on('vm-state', (event) => void this.#recordObserved(event));
  }

  /** The VMs the actor can see, optionally of one tenant, by name. */
  async list(actor: Actor, tenantId?: string): Promise<VmRow[]> {
    const query = visibleVmsQuery(this.#knex, actor).orderBy('name');
    if (tenantId) query.where({ tenant_id: tenantId });
    return query;
  }

  /** A VM the actor can see; NOT_FOUND otherwise. */
  async get(actor: Actor, vmId: string): Promise<VmRow> {
    const vm = await findVmById(this.#knex, vmId);
    if (!vm || !canSeeVm(actor, vm)) throw vmNotFound();
    return vm;
  }

  /**
   * Creates a VM and starts it, if the tenant's quota and the host admit it; with `dryRun` only
   * answers whether they would. The VM answers `starting` at once and boots in the background.
   */
  async create(
    actor: Actor,
    body: CreateVmRequest,
    dryRun: boolean,
    ip?: string,
  ): Promise<VmRow | undefined> {
    requireRole(actor, body.tenantId, 'member');
    const image = await this.#knex<ImageRow>('images')
      .where({ id: body.imageId })
      .andWhere((q) => q.whereNull('tenant_id').orWhere('tenant_id', body.tenantId))
      .first();
    if (!image) throw new AppError('NOT_FOUND', 'No such image.');
    let result: Awaited<ReturnType<typeof admit<VmRow>>>;
    try {
      result = await admit(this.#knex, {
        tenantId: body.tenantId,
        ownerId: actor.user.id,
        request: createRequest(body),
        host: this.#engine.capacity().allocatable,
        dryRun,
        write: async (trx) => {
          const [row] = await trx<VmRow>('vms')
            .insert({
              tenant_id: body.tenantId,
              owner_id: actor.user.id,
              image_id: image.id,
              name: body.name,
              vcpus: body.vcpus,
              memory_mib: body.memoryMib,
              disk_gib: body.diskGib,
              desired_state: 'running',
              state: 'stopped',
            })
            .returning('*');
          await recordAudit(trx, {
            actorId: actor.user.id,
            tenantId: body.tenantId,
            action: 'vm.create',
            targetType: 'vm',
            targetId: row!.id,
            ip,
            details: {
              name: body.name,
              vcpus: body.vcpus,
              memoryMib: body.memoryMib,
              diskGib: body.diskGib,
            },
          });
          // Starting inside the admission transaction, so parallel admissions count it.
          return (await recordVmState(trx, row!.id, { state: 'starting' }, holdsResources))!;
        },
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('CONFLICT', `A VM named "${body.name}" already exists in this tenant.`);
      throw error;
    }
    if (result.dryRun) return undefined;
    const vm = result.value;
    this.#inBackground(vm, 'create', async () => {
      await this.#engine.createVm({
        id: vm.id,
        name: vm.name,
        vcpus: vm.vcpus,
        memoryMib: vm.memory_mib,
        diskGib: vm.disk_gib,
        boot: bootOf(image),
        guestConfig: guestConfigFor(vm.name, actor.user),
      });
      await this.#engine.startVm(vm.id);
    });
    return vm;
  }

  /** Runs a lifecycle action; answers the VM in its new (often transitional) state. */
  async act(actor: Actor, vmId: string, action: VmAction, ip?: string): Promise<VmRow> {
    const vm = await this.get(actor, vmId);
    const next = this.#plan(vm, action);
    const change = { state: next.state, desired: next.desired };
    let updated: VmRow | undefined;
    if (next.admission) {
      const admitted = await admit(this.#knex, {
        tenantId: vm.tenant_id,
        ownerId: vm.owner_id,
        request: startRequestOf(vm),
        host: this.#engine.capacity().allocatable,
        dryRun: false,
        // Starting inside the admission transaction, so parallel admissions count it.
        write: (trx) => recordVmState(trx, vm.id, change, holdsResources),
      });
      updated = admitted.dryRun ? undefined : admitted.value;
    } else {
      updated = await this.#record(vm.id, change);
    }
    await recordAudit(this.#knex, {
      actorId: actor.user.id,
      tenantId: vm.tenant_id,
      action: `vm.${action}`,
      targetType: 'vm',
      targetId: vm.id,
      ip,
    });
    this.#inBackground(vm, action, next.run);
    return updated ?? vm;
  }

  /** Deletes a VM: stops it, removes every file, then the record. */
  async delete(actor: Actor, vmId: string, ip?: string): Promise<void> {
    const vm = await this.get(actor, vmId);
    await this.#engine.deleteVm(vm.id).catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'NOT_FOUND') throw error;
    });
    await this.#knex.transaction(async (trx) => {
      await trx('usage_intervals')
        .where({ vm_id: vm.id })
        .whereNull('ended_at')
        .update({ ended_at: trx.fn.now() });
      await trx('vms').where({ id: vm.id }).delete();
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId: vm.tenant_id,
        action: 'vm.delete',
        targetType: 'vm',
        targetId: vm.id,
        ip,
        details: { name: vm.name },
      });
    });
  }

  /**
   * Converges Postgres with the engine: every VM the engine knows gets its observed state; a VM
   * that should hold resources but has no process is marked crashed, releasing its quota.
   */
  async reconcile(): Promise<void> {
    const known = new Map((await this.#engine.listVms()).map((status) => [status.id, status]));
    const rows = await this.#knex<VmRow>('vms').select('id', 'state');
    for (const row of rows) {
      const status = known.get(row.id);
      if (status && status.state !== row.state) {
        await this.#record(row.id, { state: status.state, reason: status.cause ?? null });
      } else if (!status && holdsResources(row.state)) {
        await this.#record(row.id, {
          state: 'crashed',
          reason: 'The VM was not running when the server checked.',
        });
      }
    }
  }

  /** Resolves when every background engine action has finished (for shutdown and tests). */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    await Promise.allSettled([...this.#stateWrites.values()]);
  }

  /** What an action does: the state it moves to, whether it needs admission, the engine call. */
  #plan(
    vm: VmRow,
    action: VmAction,
  ): {
    state: VmState;
    desired: VmRow['desired_state'];
    admission: boolean;
    run: () => Promise<unknown>;
  } {
    const engine = this.#engine;
    const refuse = (): never => {
      throw new AppError(
        'INVALID_STATE',
        `Cannot ${action} VM "${vm.name}" while it is ${vm.state}.`,
        { state: vm.state, action },
      );
    };
    switch (action) {
      case 'start':
        if (vm.state === 'suspended' || !canTransition(vm.state, 'starting')) refuse();
        return {
          state: 'starting',
          desired: 'running',
          admission: true,
          run: () => engine.startVm(vm.id),
        };
      case 'resume':
        if (vm.state === 'paused')
          return {
            state: 'running',
            desired: 'running',
            admission: false,
            run: () => engine.resumeVm(vm.id),
          };
        if (vm.state !== 'suspended') refuse();
        return {
          state: 'starting',
          desired: 'running',
          admission: true,
          run: () => engine.startVm(vm.id),
        };
      case 'stop':
        if (!canTransition(vm.state, 'stopping')) refuse();
        return {
          state: 'stopping',
          desired: 'stopped',
          admission: false,
          run: () => engine.stopVm(vm.id),
        };
      case 'suspend':
        if (!canTransition(vm.state, 'stopping')) refuse();
        return {
          state: 'stopping',
          desired: 'suspended',
          admission: false,
          run: () => engine.suspendVm(vm.id),
        };
      case 'reboot':
        if (vm.state !== 'running') refuse();
        return {
          state: 'running',
          desired: 'running',
          admission: false,
          run: () => engine.rebootVm(vm.id),
        };
    }
  }

  /** Runs engine work after the answer; a failure leaves the VM in the engine's state with the reason. */
  #inBackground(vm: VmRow, action: string, run: () => Promise<unknown>): void {
    const log = this.#logger.child({ vmId: vm.id, tenantId: vm.tenant_id, action });
    log.info('engine action started');
    const task = run()
      .then(() => log.info('engine action finished'))
      .catch(async (error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        log.warn({ err: error }, 'engine action failed');
        const status = await this.#engine.getVm(vm.id).catch(() => undefined);
        const state: VmState =
          status && status.state !== 'starting' && status.state !== 'stopping'
            ? status.state
            : 'error';
        await this.#record(vm.id, { state, reason }).catch(() => {});
      })
      .finally(() => this.#background.delete(task));
    this.#background.add(task);
  }

  #recordObserved(event: VmStateEvent): Promise<unknown> {
    return this.#record(event.vmId, { state: event.state, reason: event.cause ?? null }).catch(
      (error: unknown) => {
        this.#logger.error(
          { err: error, vmId: event.vmId },
          'recording an observed VM state failed',
        );
      },
    );
  }

  /** Writes a state, in order per VM. */
  #record(
    vmId: string,
    change: { state: VmState; reason?: string | null; desired?: VmRow['desired_state'] },
  ): Promise<VmRow | undefined> {
    const previous = this.#stateWrites.get(vmId) ?? Promise.resolve();
    const write = previous
      .catch(() => {})
      .then(() => recordVmState(this.#knex, vmId, change, holdsResources));
    this.#stateWrites.set(vmId, write);
    void write
      .finally(() => {
        if (this.#stateWrites.get(vmId) === write) this.#stateWrites.delete(vmId);
      })
      .catch(() => {});
    return write;
  }
}
