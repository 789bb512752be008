import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Engine, isEngineError, type VmStateEvent } from '@labvisor/engine';
import {
  type CreateVmRequest,
  type NetworkMode,
  planVmAction,
  RESOURCE_HOLDING_STATES,
  type VmAction,
  type VmState,
} from '@labvisor/shared';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { findIdempotencyKey, recordIdempotencyKey } from '../../db/queries/idempotency-keys.js';
import type { ImageRow } from '../../db/queries/images.js';
import { findTenantById, type TenantRow } from '../../db/queries/tenants.js';
import { findUserById, type UserRow } from '../../db/queries/users.js';
import {
  findVmById,
  memberLabsQuery,
  openUsageInterval,
  recordDiskBytes,
  recordVmState,
  type VmRow,
  type VmStateChange,
} from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import { withoutHostPaths } from '../../host-paths.js';
import { type Actor, requireRole } from '../auth/access.js';
import { assertImageRunsHere } from '../images/runnable-images.js';
import type { PoolFiller } from '../pools/pool-filler.js';
import { takePooledVm } from '../pools/pool-take.js';
import { admit, createRequest, startRequestOf } from '../quota/admission.js';
import { assertWithinClassHours } from '../tenants/class-hours.js';
import { HomeDisks } from '../tenants/home-disks.js';
import { guestConfigFor } from './guest-config.js';
import { assertInternetCap, lockTenantQuota } from './internet-cap.js';
import { type NetworkPolicy, vmNetworkOf } from './network-policy.js';
import { ignoreNotFound, planAction } from './vm-action-plan.js';
import { vmSpecOf } from './vm-boot.js';
import { canSeeVm, visibleVmsQuery, vmNotFound } from './vm-visibility.js';

const holdsResources = (state: VmState) => RESOURCE_HOLDING_STATES.includes(state);

/** Why a policy, not a person, suspends a VM: audited with `reason`, told to its users. */
export interface SuspendPolicy {
  reason: 'idle' | 'budget' | 'schedule';
  /** The VM's state reason, for its users. */
  sentence: string;
  details?: Record<string, unknown>;
}

/**
 * How long a VM may stay `starting` unknown to the engine before the reconciler makes it again:
 * longer than any server takes from admitting a VM to handing it to its engine.
 */
export const UNFINISHED_CREATE_MS = 20_000;

/**
 * VMs as the API sees them: access, admission, the desired state in Postgres, and the engine's
 * observed state written back; emits `vm-changed` (the row as written) and `vm-deleted`. Engine
 * work that takes long (boot, graceful stop, suspend) runs in the background; the API answers
 * with the transitional state (`starting`, `stopping`).
 */
export class VmService extends EventEmitter<{
  'vm-changed': [VmRow];
  'vm-deleted': [VmRow];
}> {
  readonly #knex: Knex;
  readonly #engine: Engine;
  readonly #homeDisks: HomeDisks;
  readonly #logger: Logger;
  readonly #pools: PoolFiller;
  readonly #networks: NetworkPolicy;
  readonly #background = new Set<Promise<void>>();
  /** VMs this server is making in its engine right now (the reconciler leaves them alone). */
  readonly #creating = new Set<string>();
  /** Per-VM chain of state writes, so observed states land in the order they happened. */
  readonly #stateWrites = new Map<string, Promise<unknown>>();

  constructor(deps: {
    knex: Knex;
    engine: Engine;
    pools: PoolFiller;
    networks: NetworkPolicy;
    homeDisks: HomeDisks;
    logger: Logger;
  }) {
    super();
    this.#homeDisks = deps.homeDisks;
    this.#knex = deps.knex;
    this.#engine = deps.engine;
    this.#pools = deps.pools;
    this.#networks = deps.networks;
    this.#logger = deps.logger;
    this.#engine.on('vm-state', (event) => void this.#recordObserved(event));
  }

  /** The VMs the actor can see, optionally of one tenant, by name. */
  async list(actor: Actor, tenantId?: string): Promise<VmRow[]> {
    const query = visibleVmsQuery(this.#knex, actor).orderBy('name');
    if (tenantId) query.where({ tenant_id: tenantId });
    return query;
  }

  /**
   * Tells whoever follows the VM that something happened to it that its state does not show (a
   * snapshot taken or deleted, a console opened, a file moved): `vm-changed` with the row as it
   * is now, so open pages read its activity again.
   */
  async announceActivity(vmId: string): Promise<void> {
    const row = await findVmById(this.#knex, vmId);
    if (row) this.emit('vm-changed', row);
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
   * With an `idempotencyKey` the same user's same key and body answer the VM created first (a
   * retried request never creates a second VM); the same key with another body is a CONFLICT.
   */
  async create(
    actor: Actor,
    body: CreateVmRequest,
    options: { dryRun: boolean; idempotencyKey?: string | undefined; ip?: string | undefined },
  ): Promise<VmRow | undefined> {
    const { dryRun, ip } = options;
    requireRole(actor, body.tenantId, 'member');
    const key = dryRun ? undefined : options.idempotencyKey;
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    if (key) {
      const earlier = await this.#createdUnderKey(actor, key, requestHash);
      if (earlier) return earlier;
    }
    const image = await this.#knex<ImageRow>('images')
      .where({ id: body.imageId })
      .andWhere((q) => q.whereNull('tenant_id').orWhere('tenant_id', body.tenantId))
      .first();
    if (!image) throw new AppError('NOT_FOUND', 'No such image.');
    assertImageRunsHere(image, this.#engine.info());
    const tenant = (await findTenantById(this.#knex, body.tenantId))!;
    const network = body.network ?? tenant.default_network;
    this.#networks.assertOffered(network, 'network');
    await assertWithinClassHours(this.#knex, actor, body.tenantId);
    // A full host disk refuses here, with its sentence, rather than in the background after a 201.
    await this.#engine.assertDiskRoom(`create VM "${body.name}"`, 0);
    const host = this.#engine.capacity().allocatable;
    const homes = HomeDisks.enabled(tenant);
    if (homes) await this.#assertHomeUsable({ tenant_id: tenant.id, owner_id: actor.user.id });
    // A new home is admitted with the lab that makes it.
    const homeGib =
      homes && !(await this.#homeDisks.exists(tenant.id, actor.user.id)) ? tenant.home_disk_gib : 0;
    let taken: VmRow | undefined;
    let result: Awaited<ReturnType<typeof admit<VmRow>>> | undefined;
    try {
      // A warm pool's clone was booted without a home disk: labs with homes boot their own.
      taken =
        dryRun || homes
          ? undefined
          : await takePooledVm(this.#knex, {
              actor,
              body,
              tenant,
              network,
              host,
              idempotencyKey: key,
              requestHash,
              ip,
            });
      if (!taken)
        result = await admit(this.#knex, {
          tenantId: body.tenantId,
          ownerId: actor.user.id,
          request: { ...createRequest(body), diskGib: body.diskGib + homeGib },
          host,
          dryRun,
          write: async (trx) => {
            await assertInternetCap(trx, tenant, { adding: network });
            const [row] = await trx<VmRow>('vms')
              .insert({
                tenant_id: body.tenantId,
                owner_id: actor.user.id,
                image_id: image.id,
                name: body.name,
                vcpus: body.vcpus,
                memory_mib: body.memoryMib,
                disk_gib: body.diskGib,
                network,
                instance_type: image.kind === 'container' ? 'container' : 'virtual-machine',
                desired_state: 'running',
                // Starting inside the admission transaction, so parallel admissions count it.
                state: 'starting',
              })
              .returning('*');
            await openUsageInterval(trx, row!);
            if (key) {
              await recordIdempotencyKey(trx, {
                userId: actor.user.id,
                key,
                requestHash,
                vmId: row!.id,
              });
            }
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
                network,
              },
            });
            return row!;
          },
        });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // A request with the same key that committed first wins; answer its VM.
      const earlier = key ? await this.#createdUnderKey(actor, key, requestHash) : undefined;
      if (earlier) return earlier;
      throw new AppError('CONFLICT', `A VM named "${body.name}" already exists in this tenant.`);
    }
    if (taken) return this.#claimPooled(taken, actor);
    if (!result || result.dryRun) return undefined;
    const vm = result.value;
    this.emit('vm-changed', vm);
    this.#createInEngine(vm, image, tenant, actor.user);
    return vm;
  }

  /** Makes an admitted VM in the engine and starts it, in the background. */
  #createInEngine(vm: VmRow, image: ImageRow, tenant: TenantRow, owner: UserRow): void {
    this.#creating.add(vm.id);
    this.#inBackground(vm, 'create', async () => {
      try {
        const homeDisk = await this.#homeDisks.attach(vm, tenant);
        await this.#engine.createVm({
          ...vmSpecOf(vm, image, tenant),
          ...(homeDisk ? { homeDisk } : {}),
          guestConfig: guestConfigFor(vm.name, owner),
        });
        await this.#engine.startVm(vm.id);
      } finally {
        this.#creating.delete(vm.id);
      }
    });
  }

  /**
   * Makes again, in the engine, a VM whose create a server left unfinished (it stopped between
   * admitting the VM and handing it to its engine): the row is still `starting` and no engine
   * knows it after {@link UNFINISHED_CREATE_MS}.
   */
  async #createAgain(row: VmRow): Promise<void> {
    const image = await this.#knex<ImageRow>('images').where({ id: row.image_id }).first();
    const tenant = await findTenantById(this.#knex, row.tenant_id);
    const owner = row.owner_id ? await findUserById(this.#knex, row.owner_id) : undefined;
    if (!image || !tenant || !owner) {
      await this.#record(row.id, { state: 'error', reason: 'Its image or owner is gone.' });
      return;
    }
    this.#logger.info({ vmId: row.id }, 'making again a VM whose create a server left unfinished');
    this.#createInEngine(row, image, tenant, owner);
  }

  /**
   * Gives a VM just taken from a warm pool its owner's identity and runs it; answers it as it then
   * is (`running`, or `error` with the reason when the claim failed). The pool refills meanwhile.
   */
  async #claimPooled(vm: VmRow, actor: Actor): Promise<VmRow> {
    try {
      await this.#engine.claimVm(vm.id, {
        name: vm.name,
        guestConfig: guestConfigFor(vm.name, actor.user),
      });
    } catch (error) {
      this.#logger.warn({ err: error, vmId: vm.id }, 'taking a pooled VM failed');
    }
    // Refilled after the claim, so a new clone's start does not slow this one's identity.
    this.#pools.request();
    // The engine's state event is being written; answer the VM once it is.
    await this.#stateWrites.get(vm.id)?.catch(() => {});
    const claimed = (await findVmById(this.#knex, vm.id)) ?? vm;
    this.emit('vm-changed', claimed);
    return claimed;
  }

  /** The VM a user created under an idempotency key, if the same request made it; CONFLICT if another did. */
  async #createdUnderKey(
    actor: Actor,
    key: string,
    requestHash: string,
  ): Promise<VmRow | undefined> {
    const earlier = await findIdempotencyKey(this.#knex, actor.user.id, key);
    if (!earlier) return undefined;
    if (earlier.request_hash !== requestHash) {
      throw new AppError(
        'CONFLICT',
        'This Idempotency-Key was already used for a different request; use a new key.',
        { header: 'Idempotency-Key' },
      );
    }
    return findVmById(this.#knex, earlier.vm_id);
  }

  /**
   * Runs a lifecycle action; answers the VM in its new (often transitional) state. An action
   * already done (start of a running VM) answers the VM as it is: a client may retry safely.
   */
  async act(
    actor: Actor,
    vmId: string,
    action: VmAction,
    ip?: string,
    options: { policy?: SuspendPolicy['reason'] } = {},
  ): Promise<VmRow> {
    const vm = await this.get(actor, vmId);
    const plan = planVmAction(vm.state, action);
    if (plan === 'done') return vm;
    if (plan === 'refused') {
      throw new AppError(
        'INVALID_STATE',
        `Cannot ${action} VM "${vm.name}" while it is ${vm.state}.`,
        { state: vm.state, action },
      );
    }
    const next = planAction(this.#engine, vm, action);
    const change = { state: next.state, desired: next.desired };
    let updated: VmRow | undefined;
    // A member's own start outside class hours; a policy's (the schedule's) is its own judge.
    if (next.admission && !options.policy) {
      await assertWithinClassHours(this.#knex, actor, vm.tenant_id);
    }
    const tenant = next.admission ? await findTenantById(this.#knex, vm.tenant_id) : undefined;
    if (tenant && HomeDisks.enabled(tenant)) await this.#assertHomeUsable(vm);
    if (next.admission) {
      const admitted = await admit(this.#knex, {
        tenantId: vm.tenant_id,
        ownerId: vm.owner_id,
        request: startRequestOf(vm),
        host: this.#engine.capacity().allocatable,
        dryRun: false,
        // Starting inside the admission transaction, so parallel admissions count it.
        write: (trx) => recordVmState(trx, vm.id, change),
      });
      updated = admitted.dryRun ? undefined : admitted.value;
      if (updated) this.emit('vm-changed', updated);
    } else {
      updated = await this.#record(vm.id, change);
    }
    await recordAudit(this.#knex, {
      actorId: options.policy ? null : actor.user.id,
      tenantId: vm.tenant_id,
      action: `vm.${action}`,
      targetType: 'vm',
      targetId: vm.id,
      ip,
      ...(options.policy ? { details: { reason: options.policy } } : {}),
    });
    this.#inBackground(vm, action, async () => {
      // A network follows its tenant's settings (class egress, bandwidth) from the next boot.
      if (next.admission && vm.network !== 'none') await this.#applyNetwork(vm, vm.network);
      if (tenant) await this.#applyHome(vm, tenant);
      await next.run();
    });
    return updated ?? vm;
  }

  /**
   * Changes a stopped VM's network (INVALID_STATE while its guest runs or is suspended: its memory
   * holds the old network's address); its next start uses it.
   */
  async setNetwork(actor: Actor, vmId: string, network: NetworkMode, ip?: string): Promise<VmRow> {
    const vm = await this.get(actor, vmId);
    if (!['stopped', 'crashed', 'error'].includes(vm.state)) {
      throw new AppError(
        'INVALID_STATE',
        `Stop VM "${vm.name}" to change its network; it is ${vm.state}.`,
        { state: vm.state },
      );
    }
    this.#networks.assertOffered(network, 'network');
    const row = await this.#knex.transaction(async (trx) => {
      await lockTenantQuota(trx, vm.tenant_id);
      const tenant = (await findTenantById(trx, vm.tenant_id))!;
      await assertInternetCap(trx, tenant, { adding: network, except: vm.id });
      const [updated] = await trx<VmRow>('vms')
        .where({ id: vm.id })
        .update({ network, network_address: null, updated_at: trx.fn.now() })
        .returning('*');
      return updated!;
    });
    await this.#applyNetwork(row, network);
    await recordAudit(this.#knex, {
      actorId: actor.user.id,
      tenantId: vm.tenant_id,
      action: 'vm.update',
      targetType: 'vm',
      targetId: vm.id,
      ip,
      details: { network },
    });
    this.emit('vm-changed', row);
    return row;
  }

  /**
   * Refuses to start a lab of a class with home disks on a driver that cannot attach one, or
   * while another lab of its owner in the class is live: their home disk goes with one running
   * lab at a time.
   */
  async #assertHomeUsable(
    vm: Pick<VmRow, 'tenant_id' | 'owner_id'> & { id?: string },
  ): Promise<void> {
    const driver = this.#engine.info();
    if (!driver.features.includes('home-disks')) {
      throw new AppError(
        'INVALID_STATE',
        `This class gives its members home disks, which labs on the ${driver.name} driver cannot have; an admin can set its home disk size to 0.`,
      );
    }
    if (!vm.owner_id) return;
    const other = await this.#knex<VmRow>('vms')
      .where({ tenant_id: vm.tenant_id, owner_id: vm.owner_id })
      .modify((query) => {
        if (vm.id) query.whereNot({ id: vm.id });
      })
      .whereIn('state', ['starting', 'running', 'paused', 'stopping'])
      .first('name', 'state');
    if (other) {
      throw new AppError(
        'CONFLICT',
        `The home disk of this lab's owner is in use by their lab "${other.name}" (${other.state}): stop or suspend that lab first.`,
        { vmName: other.name, state: other.state },
      );
    }
  }

  /**
   * Gives the engine's VM its owner's home disk as the tenant now has it (homes on: attached; off:
   * detached), before a start; a suspended VM keeps what its saved state holds.
   */
  async #applyHome(vm: VmRow, tenant: TenantRow): Promise<void> {
    try {
      await this.#engine.setVmHomeDisk(vm.id, await this.#homeDisks.attach(vm, tenant));
    } catch (error) {
      if (isEngineError(error) && ['INVALID_STATE', 'NOT_FOUND'].includes(error.code)) return;
      throw error;
    }
  }

  /** Gives the engine's VM `mode`'s network as its tenant now has it (a VM it lost: nothing). */
  async #applyNetwork(vm: VmRow, mode: NetworkMode): Promise<void> {
    const tenant: TenantRow = (await findTenantById(this.#knex, vm.tenant_id))!;
    try {
      await this.#engine.setVmNetwork(vm.id, vmNetworkOf(mode, tenant));
    } catch (error) {
      // A suspended VM keeps the network it has; one whose creation failed has none to change.
      if (isEngineError(error) && ['INVALID_STATE', 'NOT_FOUND'].includes(error.code)) return;
      throw error;
    }
  }

  /**
   * Suspends a VM because a policy says so (no actor: its idle time, its hour budget), with the
   * policy's sentence as its reason; its work is kept, and opening its console resumes it.
   */
  async suspendByPolicy(vm: VmRow, policy: SuspendPolicy): Promise<void> {
    if (planVmAction(vm.state, 'suspend') !== 'run') return;
    await this.#record(vm.id, { state: 'stopping', desired: 'suspended' });
    await recordAudit(this.#knex, {
      actorId: null,
      tenantId: vm.tenant_id,
      action: 'vm.suspend',
      targetType: 'vm',
      targetId: vm.id,
      details: { reason: policy.reason, ...policy.details },
    });
    this.#inBackground(vm, 'suspend', () =>
      this.#engine.suspendVm(vm.id, { cause: policy.sentence }),
    );
  }

  /**
   * Resets a lab to its image (a class template, or any disk image): its disk, snapshots and
   * saved state are thrown away and, if its guest ran, it runs again from a fresh disk. Answers it
   * as it is now; the engine resets it in the background (its states follow as events). Who may
   * act on the lab may reset it; a lab installed from an ISO has no image state to go back to.
   */
  async reset(actor: Actor, vmId: string, ip?: string): Promise<VmRow> {
    const vm = await this.get(actor, vmId);
    await this.#assertResettable(vm);
    await this.#knex.transaction(async (trx) => {
      await trx('vms').where({ id: vm.id }).update({ current_snapshot_id: null });
      await trx('snapshots').where({ vm_id: vm.id }).del();
    });
    await recordAudit(this.#knex, {
      actorId: actor.user.id,
      tenantId: vm.tenant_id,
      action: 'vm.reset',
      targetType: 'vm',
      targetId: vm.id,
      ip,
    });
    this.#inBackground(vm, 'reset', () => this.#engine.resetVm(vm.id));
    return vm;
  }

  /**
   * Resets the labs of a class's members (those of `ownerIds`, or of everyone with the member
   * role) to their images; answers those being reset and, for each other lab, why not.
   */
  async resetClass(
    actor: Actor,
    tenantId: string,
    ownerIds: string[] | undefined,
    ip?: string,
  ): Promise<{ reset: VmRow[]; refused: Array<{ vm: VmRow; reason: string }> }> {
    requireRole(actor, tenantId, 'instructor');
    const labs = await memberLabsQuery(this.#knex, tenantId, ownerIds);
    const reset: VmRow[] = [];
    const refused: Array<{ vm: VmRow; reason: string }> = [];
    for (const lab of labs) {
      try {
        reset.push(await this.reset(actor, lab.id, ip));
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        refused.push({ vm: lab, reason: error.message });
      }
    }
    return { reset, refused };
  }

  /** Refuses (with a sentence) to reset a lab with no image to go back to, or one in transition. */
  async #assertResettable(vm: VmRow): Promise<void> {
    if (!this.#engine.info().features.includes('reset')) {
      throw new AppError(
        'INVALID_STATE',
        `Labs on this host cannot be reset: the ${this.#engine.info().name} driver does not do it.`,
      );
    }
    const image = await this.#knex<ImageRow>('images').where({ id: vm.image_id }).first();
    if (!image || image.kind === 'iso') {
      throw new AppError(
        'INVALID_STATE',
        `VM "${vm.name}" was installed from an ISO image, not made from a template: there is no image state to reset it to.`,
      );
    }
    if (vm.state === 'starting' || vm.state === 'stopping') {
      throw new AppError(
        'INVALID_STATE',
        `VM "${vm.name}" is ${vm.state}; reset it once it has finished.`,
        { state: vm.state },
      );
    }
  }

  /** Deletes a VM: stops it, removes every file, then the record. */
  async delete(actor: Actor, vmId: string, ip?: string): Promise<void> {
    const vm = await this.get(actor, vmId);
    await this.#engine.deleteVm(vm.id).catch(ignoreNotFound);
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
    this.emit('vm-deleted', vm);
  }

  /**
   * Converges Postgres with the engine: every VM the engine knows gets its observed state and its
   * bytes on disk (for `diskGib`); a VM that should hold resources but has no process is marked
   * crashed, releasing its quota. A VM the engine has not met yet is asked for by id, so that on a
   * shared cluster the labs another replica made are learned, not judged crashed.
   */
  async reconcile(): Promise<void> {
    const known = new Map((await this.#engine.listVms()).map((status) => [status.id, status]));
    // Every VM, every few seconds: only the columns judged here (a whole row only to create again).
    const rows: Array<Pick<VmRow, 'id' | 'state' | 'disk_bytes' | 'pool_id' | 'updated_at'>> =
      await this.#knex<VmRow>('vms').select('id', 'state', 'disk_bytes', 'pool_id', 'updated_at');
    for (const row of rows) {
      if (this.#creating.has(row.id)) continue;
      let status = known.get(row.id);
      // Unknown here: asked for, since on a shared cluster another replica may have made it.
      if (!status) {
        try {
          status = await this.#engine.getVm(row.id);
        } catch (error) {
          // Not reachable now (a cluster that does not answer): judged at the next round.
          if (!isEngineError(error) || error.code !== 'NOT_FOUND') continue;
        }
      }
      if (status && status.diskBytes !== Number(row.disk_bytes))
        await recordDiskBytes(this.#knex, row.id, status.diskBytes);
      if (status && status.state !== row.state) {
        await this.#record(row.id, { state: status.state, reason: status.cause ?? null });
      } else if (!status && row.state === 'starting' && row.pool_id === null) {
        // Admitted, never handed to an engine: made again once no server can still be at it.
        const age = Date.now() - new Date(row.updated_at).getTime();
        const unfinished = age > UNFINISHED_CREATE_MS && (await findVmById(this.#knex, row.id));
        if (unfinished) await this.#createAgain(unfinished);
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
    return this.#record(event.vmId, {
      state: event.state,
      reason: event.cause ?? null,
      ...(event.bootPath ? { bootPath: event.bootPath } : {}),
      ...(event.address ? { networkAddress: event.address } : {}),
    }).catch((error: unknown) => {
      this.#logger.error({ err: error, vmId: event.vmId }, 'recording an observed VM state failed');
    });
  }

  /** Writes a state, in order per VM. */
  #record(vmId: string, change: VmStateChange): Promise<VmRow | undefined> {
    const previous = this.#stateWrites.get(vmId) ?? Promise.resolve();
    const write = previous
      .catch(() => {})
      .then(() =>
        recordVmState(
          this.#knex,
          vmId,
          change.reason ? { ...change, reason: withoutHostPaths(change.reason) } : change,
        ),
      )
      .then((row) => {
        if (row) this.emit('vm-changed', row);
        return row;
      });
    this.#stateWrites.set(vmId, write);
    void write
      .finally(() => {
        if (this.#stateWrites.get(vmId) === write) this.#stateWrites.delete(vmId);
      })
      .catch(() => {});
    return write;
  }
}
