import type { CreateVmRequest, NetworkMode } from '@labvisor/shared';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { recordIdempotencyKey } from '../../db/queries/idempotency-keys.js';
import { lockReadyPooledVm, poolSizeColumns } from '../../db/queries/pools.js';
import type { TenantRow } from '../../db/queries/tenants.js';
import { openUsageInterval, type VmRow } from '../../db/queries/vms.js';
import type { Actor } from '../auth/access.js';
import type { HostAllocatable } from '../quota/admission.js';
import { admit, createRequest } from '../quota/admission.js';
import { assertInternetCap } from '../vms/internet-cap.js';

/** What a launch that may take a pooled VM carries. */
export interface PoolTakeRequest {
  actor: Actor;
  body: CreateVmRequest;
  tenant: TenantRow;
  /** The launch's network: only a pooled VM started with it is taken. */
  network: NetworkMode;
  host: HostAllocatable;
  idempotencyKey: string | undefined;
  requestHash: string;
  ip: string | undefined;
}

/**
 * Gives the member a ready VM of their tenant's warm pool of this image and size, if one is ready:
 * in one transaction it becomes theirs (their name, metered from now), within their own limits
 * (the tenant's quota and the host already hold it). Undefined when no pooled VM is ready; the
 * caller then creates one. The VM is still paused: the engine's claim gives it its identity.
 */
export async function takePooledVm(knex: Knex, take: PoolTakeRequest): Promise<VmRow | undefined> {
  const { actor, body } = take;
  const anyReady = await knex('vms')
    .where({
      tenant_id: body.tenantId,
      state: 'paused',
      network: take.network,
      ...poolSizeColumns(body),
    })
    .whereNotNull('pool_id')
    .first('id');
  if (!anyReady) return undefined;
  const taken = await admit(knex, {
    tenantId: body.tenantId,
    ownerId: actor.user.id,
    request: createRequest(body),
    alreadyHeld: true,
    host: take.host,
    dryRun: false,
    write: async (trx) => {
      const pooled = await lockReadyPooledVm(trx, body.tenantId, body, take.network);
      if (!pooled) return undefined;
      await assertInternetCap(trx, take.tenant, { adding: take.network });
      const [vm] = await trx<VmRow>('vms')
        .where({ id: pooled.id })
        .update({
          owner_id: actor.user.id,
          pool_id: null,
          name: body.name,
          desired_state: 'running',
          updated_at: trx.fn.now(),
        })
        .returning('*');
      await openUsageInterval(trx, vm!);
      if (take.idempotencyKey) {
        await recordIdempotencyKey(trx, {
          userId: actor.user.id,
          key: take.idempotencyKey,
          requestHash: take.requestHash,
          vmId: vm!.id,
        });
      }
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId: body.tenantId,
        action: 'vm.create',
        targetType: 'vm',
        targetId: vm!.id,
        ip: take.ip,
        details: {
          name: body.name,
          vcpus: body.vcpus,
          memoryMib: body.memoryMib,
          diskGib: body.diskGib,
          fromPool: true,
        },
      });
      return vm;
    },
  });
  return taken.dryRun ? undefined : taken.value;
}
