import { checkQuota, type Engine } from '@labvisor/engine';
import type { PoolSetting, Pools } from '@labvisor/shared';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import type { ImageRow } from '../../db/queries/images.js';
import { listPools, writePools } from '../../db/queries/pools.js';
import { readLimits } from '../../db/queries/quotas.js';
import { AppError } from '../../errors.js';
import { type Actor, requireRole } from '../auth/access.js';
import type { PoolFiller } from './pool-filler.js';

/**
 * A tenant's warm pools as its instructors and admins see and set them. Setting them only writes
 * the counts; the {@link PoolFiller} makes and removes the VMs.
 */
export class PoolService {
  readonly #knex: Knex;
  readonly #engine: Engine;
  readonly #filler: PoolFiller;

  constructor(deps: { knex: Knex; engine: Engine; filler: PoolFiller }) {
    this.#knex = deps.knex;
    this.#engine = deps.engine;
    this.#filler = deps.filler;
  }

  /** The tenant's pools with what each holds now (instructors and admins). */
  async list(actor: Actor, tenantId: string): Promise<Pools> {
    requireRole(actor, tenantId, 'instructor');
    const rows = await listPools(this.#knex, tenantId);
    return {
      pools: rows.map((row) => ({
        imageId: row.image_id,
        imageName: row.image_name,
        vcpus: row.vcpus,
        memoryMib: row.memory_mib,
        diskGib: row.disk_gib,
        count: row.count,
        classHoursOnly: row.class_hours_only,
        ready: row.ready,
        starting: row.starting,
        shortBecause:
          row.ready + row.starting < row.count ? this.#filler.shortBecause(row.id) : null,
      })),
    };
  }

  /**
   * Sets every pool of the tenant (a pool left out is emptied) and starts filling them. Refused:
   * an image the tenant cannot use or whose guest runs no agent (a pooled VM is a template's
   * clone), one image and size twice, pools that together exceed the tenant's quota, or a host
   * without templates.
   */
  async replace(
    actor: Actor,
    tenantId: string,
    settings: PoolSetting[],
    ip: string | undefined,
  ): Promise<Pools> {
    requireRole(actor, tenantId, 'instructor');
    const kept = settings.filter((setting) => setting.count > 0);
    if (kept.length > 0 && !this.#engine.info().features.includes('templates')) {
      throw new AppError(
        'CONFLICT',
        'Warm pools need templates, which this host does not make (LABVISOR_TEMPLATES=off or its driver has none).',
      );
    }
    assertDistinct(settings);
    await this.#assertImagesPoolable(tenantId, kept);
    await this.#knex.transaction(async (trx) => {
      const limits = await readLimits(trx, tenantId, { forUpdate: true });
      if (!limits) throw new AppError('NOT_FOUND', 'No such tenant.');
      const decision = checkQuota(limits, {}, totalsOf(kept));
      if (!decision.allow) {
        const { resource, limit, requested } = decision;
        throw new AppError(
          'QUOTA_EXCEEDED',
          `These pools would hold ${requested} ${resource} together, more than the tenant's quota of ${limit}.`,
          { resource, limit, used: 0, requested },
        );
      }
      await writePools(trx, tenantId, settings);
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId,
        action: 'pool.update',
        targetType: 'tenant',
        targetId: tenantId,
        ip,
        details: { pools: settings },
      });
    });
    this.#filler.request();
    return this.list(actor, tenantId);
  }

  async #assertImagesPoolable(tenantId: string, settings: PoolSetting[]): Promise<void> {
    for (const [index, setting] of settings.entries()) {
      const image = await this.#knex<ImageRow>('images')
        .where({ id: setting.imageId })
        .andWhere((q) => q.whereNull('tenant_id').orWhere('tenant_id', tenantId))
        .first();
      if (!image) {
        throw new AppError('VALIDATION', 'No such image for this tenant.', {
          field: `pools.${index}.imageId`,
        });
      }
      if (!image.guest_agent) {
        throw new AppError(
          'VALIDATION',
          `Image "${image.name}" cannot fill a warm pool: its guest runs no Labvisor agent, so its VMs cannot start from a template.`,
          { field: `pools.${index}.imageId` },
        );
      }
    }
  }
}

/** Refuses the same image and size twice. */
function assertDistinct(settings: PoolSetting[]): void {
  const seen = new Set<string>();
  for (const [index, setting] of settings.entries()) {
    const key = [setting.imageId, setting.vcpus, setting.memoryMib, setting.diskGib].join('/');
    if (seen.has(key)) {
      throw new AppError('VALIDATION', 'The same image and size appear twice.', {
        field: `pools.${index}`,
      });
    }
    seen.add(key);
  }
}

/** What the pools hold together when full, as a quota request. */
function totalsOf(settings: PoolSetting[]) {
  const sum = (of: (setting: PoolSetting) => number) =>
    settings.reduce((total, setting) => total + setting.count * of(setting), 0);
  return {
    runningVms: sum(() => 1),
    vcpus: sum((setting) => setting.vcpus),
    memoryMib: sum((setting) => setting.memoryMib),
    diskGib: sum((setting) => setting.diskGib),
  };
}
