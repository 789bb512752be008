import { checkQuota, type QuotaRequest } from '@labvisor/engine';
import type { CreateVmRequest, QuotaLimits, QuotaUsage } from '@labvisor/shared';
import { RESOURCE_HOLDING_STATES } from '@labvisor/shared';
import type { Knex } from 'knex';
import { readLimits } from '../../db/queries/quotas.js';
import type { VmRow } from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import { readMemberLimits, readUsage } from './quota-usage.js';

/** Starting a VM needs at least this much metered time left this month (one minute). */
const MIN_HOURS_TO_START = 1 / 60;

/** The most images a tenant may hold (uploaded, and labs published as templates). */
export const MAX_TENANT_IMAGES = 50;

/** Key of the advisory lock that serialises host-capacity decisions across tenants and replicas. */
const HOST_CAPACITY_LOCK_KEY = 0x1ab_0001;

/** What the host can give all tenants together (memory and vCPUs after overcommit). */
export interface HostAllocatable {
  memoryMib: number;
  vcpus: number;
}

/** What an admission decided: the VM row written, or, on a dry run, only that it would pass. */
export type AdmissionResult<T> =
  | { admitted: true; dryRun: true }
  | { admitted: true; dryRun: false; value: T };

/** What {@link admit} is asked to admit. */
export interface AdmissionRequest<T> {
  tenantId: string;
  /** The member whose own limits (if a tenant admin set any) also apply. */
  ownerId?: string | null;
  request: QuotaRequest;
  /**
   * The VM already holds the tenant's and the host's resources (a warm pool's VM being taken):
   * only the member's own limits and the tenant's hours are checked.
   */
  alreadyHeld?: boolean;
  host: HostAllocatable;
  dryRun: boolean;
  write: (trx: Knex.Transaction) => Promise<T>;
}

/**
 * Runs `write` only if the tenant's quota and the host's capacity admit `request`, in one
 * transaction: the tenant's quota row is locked (`SELECT … FOR UPDATE`), so a tenant's
 * admissions run one at a time; the host is checked after `write` (which must leave the VM
 * holding the requested vCPUs and memory) under an advisory lock held only from that check to
 * the commit, so parallel requests of many tenants — on several replicas too — never
 * over-admit and barely wait on each other. A dry run reads the same sums without a transaction
 * or a lock (it writes nothing, so it answers what a create would meet now). A refusal throws
 * QUOTA_EXCEEDED with `{resource, limit, used, requested}`.
 */
export async function admit<T>(
  knex: Knex,
  options: AdmissionRequest<T>,
): Promise<AdmissionResult<T>> {
  if (options.dryRun) {
    if (await refuseOverQuotas(knex, options, { forUpdate: false }))
      await refuseOverHostCapacity(knex, options.host, options.request, false);
    return { admitted: true, dryRun: true };
  }
  return knex.transaction(async (trx) => {
    const takesHost = await refuseOverQuotas(trx, options, { forUpdate: true });
    const value = await options.write(trx);
    // The host is checked last, with its written VM counted: the lock that makes it exact across
    // tenants is held from this sum to the commit only, so tenants wait on each other briefly.
    if (takesHost) {
      await trx.raw('select pg_advisory_xact_lock(?)', [HOST_CAPACITY_LOCK_KEY]);
      await refuseOverHostCapacity(trx, options.host, options.request, true);
    }
    return { admitted: true, dryRun: false, value } as const;
  });
}

/**
 * Refuses a request beyond the tenant's quota or the member's own limits (with `forUpdate`, the
 * tenant's quota row stays locked to the transaction's end); answers whether the request takes
 * host resources.
 */
async function refuseOverQuotas(
  knex: Knex,
  options: AdmissionRequest<unknown>,
  lock: { forUpdate: boolean },
): Promise<boolean> {
  const limits = await readLimits(knex, options.tenantId, lock);
  if (!limits) throw new AppError('NOT_FOUND', 'No such tenant.');
  const usage = await readUsage(knex, options.tenantId);
  const tenantRequest: QuotaRequest = options.alreadyHeld
    ? { vmHoursPerMonth: options.request.vmHoursPerMonth ?? 0 }
    : options.request;
  refuseOverQuota(limits, usage, tenantRequest, 'tenant');
  const ownerId = options.ownerId ?? undefined;
  const memberLimits = ownerId && (await readMemberLimits(knex, options.tenantId, ownerId));
  if (memberLimits) {
    refuseOverQuota(
      memberLimits,
      await readUsage(knex, options.tenantId, ownerId),
      options.request,
      'member',
    );
  }
  return (tenantRequest.vcpus ?? 0) > 0 || (tenantRequest.memoryMib ?? 0) > 0;
}

/**
 * Refuses a new image of `sizeBytes` for a tenant that already holds {@link MAX_TENANT_IMAGES}
 * images or whose `diskGib` cannot take it. With `forUpdate` the tenant's quota row stays locked
 * to the transaction's end, so parallel uploads are admitted one at a time, like VMs.
 */
export async function refuseOverTenantImages(
  knex: Knex,
  tenantId: string,
  sizeBytes: number,
  lock: { forUpdate: boolean },
): Promise<void> {
  const limits = await readLimits(knex, tenantId, lock);
  if (!limits) throw new AppError('NOT_FOUND', 'No such tenant.');
  const held = await knex('images')
    .where({ tenant_id: tenantId })
    .first<{ count: string | number }>(knex.raw('count(*) as count'));
  const images = Number(held?.count ?? 0);
  if (images >= MAX_TENANT_IMAGES) {
    throw new AppError(
      'QUOTA_EXCEEDED',
      `The tenant holds ${images} images, the most it may; delete one it no longer uses first.`,
      { resource: 'images', limit: MAX_TENANT_IMAGES, used: images, requested: 1 },
    );
  }
  refuseOverQuota(
    limits,
    await readUsage(knex, tenantId),
    { diskGib: sizeBytes / 1024 ** 3 },
    'tenant',
  );
}

/** The quota request of creating (and so starting) a VM. */
export function createRequest(
  body: Pick<CreateVmRequest, 'vcpus' | 'memoryMib' | 'diskGib'>,
): QuotaRequest {
  return { ...startRequest(body), diskGib: body.diskGib };
}

/** The quota request of starting an existing VM (its disk is already counted). */
export function startRequest(vm: Pick<CreateVmRequest, 'vcpus' | 'memoryMib'>): QuotaRequest {
  return {
    runningVms: 1,
    vcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    vmHoursPerMonth: MIN_HOURS_TO_START,
  };
}

/** The quota request of starting a VM row. */
export function startRequestOf(vm: VmRow): QuotaRequest {
  return startRequest({ vcpus: vm.vcpus, memoryMib: vm.memory_mib });
}

function refuseOverQuota(
  limits: Partial<QuotaLimits>,
  usage: QuotaUsage,
  request: QuotaRequest,
  scope: 'tenant' | 'member',
): void {
  const decision = checkQuota(limits, usage, request);
  if (decision.allow) return;
  const { limit, used, requested } = decision;
  // Hours are refused as `vmHours` (the contract's name), with a sentence that says when they return.
  const resource = decision.resource === 'vmHoursPerMonth' ? 'vmHours' : decision.resource;
  const whose = scope === 'tenant' ? "The tenant's" : 'Your own';
  if (resource === 'vmHours') {
    throw new AppError(
      'QUOTA_EXCEEDED',
      `${whose} ${limit} VM-hours for this month are used up (${used} used); an admin can raise the budget, or wait for the month to turn.`,
      { resource, limit, used, requested, ...(scope === 'member' ? { scope } : {}) },
    );
  }
  throw new AppError(
    'QUOTA_EXCEEDED',
    `${whose} ${resource} quota would be exceeded: ${used} used + ${roundUp(requested)} requested > limit ${limit}.`,
    { resource, limit, used, requested, ...(scope === 'member' ? { scope } : {}) },
  );
}

/**
 * Refuses a request the host cannot take; `written`: the request's VM is already written as
 * holding resources (so it is in the sum, and taken out of the `used` the refusal reports).
 */
async function refuseOverHostCapacity(
  trx: Knex,
  host: HostAllocatable,
  request: QuotaRequest,
  written: boolean,
): Promise<void> {
  const used = await trx('vms')
    .whereIn('state', RESOURCE_HOLDING_STATES)
    .first<{ vcpus: string | null; memory: string | null }>(
      trx.raw('sum(vcpus) as vcpus'),
      trx.raw('sum(memory_mib) as memory'),
    );
  const vcpus = request.vcpus ?? 0;
  const memoryMib = request.memoryMib ?? 0;
  const checks = [
    {
      resource: 'hostVcpus',
      limit: host.vcpus,
      used: Number(used?.vcpus ?? 0) - (written ? vcpus : 0),
      requested: vcpus,
    },
    {
      resource: 'hostMemoryMib',
      limit: host.memoryMib,
      used: Number(used?.memory ?? 0) - (written ? memoryMib : 0),
      requested: memoryMib,
    },
  ];
  for (const check of checks) {
    if (check.used + check.requested > check.limit) {
      throw new AppError(
        'QUOTA_EXCEEDED',
        `The host is full: ${check.resource} ${check.used} in use + ${check.requested} requested > ${check.limit} available. Try again later or ask an admin.`,
        check,
      );
    }
  }
}

function roundUp(value: number): number {
  return Math.ceil(value * 100) / 100;
}
