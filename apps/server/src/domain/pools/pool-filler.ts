import { randomBytes } from 'node:crypto';
import type { Engine } from '@labvisor/engine';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ImageRow } from '../../db/queries/images.js';
import {
  deleteEmptiedPools,
  deletePooledVm,
  listPooledVms,
  listPools,
  type PoolRow,
  poolSizeColumns,
} from '../../db/queries/pools.js';
import { findTenantById, type TenantRow } from '../../db/queries/tenants.js';
import type { VmRow } from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import { withoutHostPaths } from '../../host-paths.js';
import { admit, createRequest } from '../quota/admission.js';
import { inClassHours, readSchedule, toScheduleRequest } from '../tenants/class-hours.js';
import { HomeDisks } from '../tenants/home-disks.js';
import { vmNetworkOf } from '../vms/network-policy.js';
import { bootOf } from '../vms/vm-boot.js';
import { templateSpecOf } from '../vms/vm-templates.js';

/** States in which a pooled VM is of no more use: it is removed and replaced. */
const SPENT_STATES: readonly VmRow['state'][] = ['error', 'crashed', 'stopped', 'suspended'];

/** How long a pool whose VM failed to start waits before it is tried again. */
const RETRY_AFTER_FAILURE_MS = 60_000;

/** Why a pool kept only during class hours holds nothing now. */
export const OUTSIDE_CLASS_HOURS =
  'Outside class hours: this pool is filled from a few minutes before the next session.';

/** Why a pool of a class with home disks holds nothing. */
export const HOMES_BOOT_COLD =
  'This class gives its members home disks: their labs boot with them, so no clone is kept ready.';

/**
 * Keeps every warm pool at its count, in the background, one VM at a time (a host has few cores):
 * makes a paused clone for each one missing, as far as the tenant's quota and the host admit,
 * and removes spent and surplus ones. A pooled VM holds host capacity and its tenant's quota
 * (never a member's) until a launch takes it.
 */
export class PoolFiller {
  readonly #knex: Knex;
  readonly #engine: Engine;
  readonly #logger: Logger;
  /** Why a pool holds fewer than its count, by pool id, from its last fill. */
  readonly #shortBecause = new Map<string, string>();
  /** When a pool whose VM failed to start may be tried again, by pool id (no restart loop). */
  readonly #retryAt = new Map<string, number>();
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(deps: { knex: Knex; engine: Engine; logger: Logger }) {
    this.#knex = deps.knex;
    this.#engine = deps.engine;
    this.#logger = deps.logger;
  }

  /** Why the pool holds fewer VMs than its count, as of its last fill; null when nothing stops it. */
  shortBecause(poolId: string): string | null {
    return this.#shortBecause.get(poolId) ?? null;
  }

  /** Asks for a fill of every pool; one runs at a time, and one more after it if asked meanwhile. */
  request(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#fillUntilQuiet().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves when no fill runs (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops filling: the fill under way ends; pooled VMs keep running (a restart adopts them). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  async #fillUntilQuiet(): Promise<void> {
    do {
      this.#again = false;
      try {
        for (const pool of await listPools(this.#knex)) {
          if (this.#stopped) return;
          await this.#fill(pool);
        }
        await deleteEmptiedPools(this.#knex);
      } catch (error) {
        this.#logger.warn({ err: error }, 'filling warm pools failed');
      }
    } while (this.#again && !this.#stopped);
  }

  async #fill(pool: PoolRow): Promise<void> {
    const vms = await listPooledVms(this.#knex, pool.id);
    const tenant = (await findTenantById(this.#knex, pool.tenant_id))!;
    // A pooled VM has the network its tenant's launches get by default; one of an earlier
    // default is of no more use.
    const stale = (vm: VmRow) =>
      SPENT_STATES.includes(vm.state) || vm.network !== tenant.default_network;
    const spent = vms.filter(stale);
    const kept = vms.filter((vm) => !stale(vm));
    const offHours = pool.class_hours_only && !(await this.#inClassHours(pool.tenant_id));
    // A clone was booted without a home disk: a class with homes launches its own labs.
    const idle = offHours || HomeDisks.enabled(tenant);
    const count = idle ? 0 : pool.count;
    // The newest go first when a pool shrinks: the oldest are the ones launches take first.
    const surplus = kept.slice(count);
    for (const vm of [...spent, ...surplus]) await this.#remove(vm);
    if (idle) {
      this.#shortBecause.set(pool.id, offHours ? OUTSIDE_CLASS_HOURS : HOMES_BOOT_COLD);
      return;
    }
    let missing = count - kept.length;
    if (missing <= 0) this.#shortBecause.delete(pool.id);
    if (Date.now() < (this.#retryAt.get(pool.id) ?? 0)) return;
    while (missing > 0 && !this.#stopped) {
      const reason = await this.#addOne(pool, tenant);
      if (reason) {
        this.#shortBecause.set(pool.id, reason);
        return;
      }
      missing -= 1;
    }
    this.#shortBecause.delete(pool.id);
  }

  /** Whether the tenant's class hours are on now; true when it has none. */
  async #inClassHours(tenantId: string): Promise<boolean> {
    const schedule = await readSchedule(this.#knex, tenantId);
    return !schedule || inClassHours(toScheduleRequest(schedule), new Date());
  }

  /** Makes one paused clone for the pool; answers why it could not, or undefined when it did. */
  async #addOne(pool: PoolRow, tenant: TenantRow): Promise<string | undefined> {
    const network = tenant.default_network;
    const image = await this.#knex<ImageRow>('images').where({ id: pool.image_id }).first();
    if (!image) return 'Its image is gone.';
    const size = { vcpus: pool.vcpus, memoryMib: pool.memory_mib, diskGib: pool.disk_gib };
    let vm: VmRow;
    try {
      const admitted = await admit(this.#knex, {
        tenantId: pool.tenant_id,
        request: createRequest(size),
        host: this.#engine.capacity().allocatable,
        dryRun: false,
        write: async (trx) =>
          (
            await trx<VmRow>('vms')
              .insert({
                tenant_id: pool.tenant_id,
                pool_id: pool.id,
                owner_id: null,
                name: `pool-${randomBytes(4).toString('hex')}`,
                ...poolSizeColumns({ imageId: image.id, ...size }),
                network,
                desired_state: 'paused',
                state: 'starting',
              })
              .returning('*')
          )[0]!,
      });
      if (admitted.dryRun) return undefined;
      vm = admitted.value;
    } catch (error) {
      if (error instanceof AppError && error.code === 'QUOTA_EXCEEDED') return error.message;
      throw error;
    }
    try {
      await this.#engine.buildTemplate(templateSpecOf(image, size));
      await this.#engine.createVm({
        id: vm.id,
        name: vm.name,
        ...size,
        boot: bootOf(image),
        guestAgent: true,
        network: vmNetworkOf(network, tenant),
        project: pool.tenant_id,
      });
      await this.#engine.startPooledVm(vm.id);
      this.#logger.info({ poolId: pool.id, vmId: vm.id }, 'pooled VM ready');
      return undefined;
    } catch (error) {
      this.#logger.warn({ err: error, poolId: pool.id, vmId: vm.id }, 'making a pooled VM failed');
      await this.#remove(vm);
      this.#retryAt.set(pool.id, Date.now() + RETRY_AFTER_FAILURE_MS);
      return withoutHostPaths(`Making a pooled VM failed: ${(error as Error).message}`);
    }
  }

  /** Removes a pooled VM (its row first, so a launch cannot take it meanwhile), then its guest. */
  async #remove(vm: VmRow): Promise<void> {
    if (!(await deletePooledVm(this.#knex, vm.id))) return;
    await this.#engine.deleteVm(vm.id).catch((error: unknown) => {
      if ((error as { code?: string }).code === 'NOT_FOUND') return;
      this.#logger.warn({ err: error, vmId: vm.id }, 'deleting a pooled VM failed');
    });
  }
}
