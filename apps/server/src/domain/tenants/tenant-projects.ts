import type { ProjectLimits } from '@labvisor/engine';
import type { QuotaLimits } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { readLimits } from '../../db/queries/quotas.js';

/** What the tenant projects need of the engine. */
export interface ProjectEngine {
  info(): { features: string[] };
  syncProject(project: string, limits: ProjectLimits): Promise<void>;
}

/**
 * Mirrors each tenant's quota onto the engine's own per-tenant partition when it has one (the
 * Incus driver's projects, feature `projects`): a second wall behind Labvisor's exact admission.
 * A VM's disk counts at least 1 GiB of the tenant's `diskGib`, so the project holds at most that
 * many instances. A failure is logged, not raised: the quota in the database is the rule, and the
 * next start of the server mirrors it again.
 */
export class TenantProjects {
  constructor(
    private readonly knex: Knex,
    private readonly engine: ProjectEngine,
    private readonly logger: Logger,
  ) {}

  /** Mirrors one tenant's limits. */
  async sync(tenantId: string, limits: QuotaLimits): Promise<void> {
    if (!this.engine.info().features.includes('projects')) return;
    try {
      await this.engine.syncProject(tenantId, { instances: limits.diskGib });
    } catch (error) {
      this.logger.warn({ err: error, tenantId }, 'cannot mirror the tenant quota onto its project');
    }
  }

  /** Mirrors every tenant's limits (at the server's start). */
  async syncAll(): Promise<void> {
    if (!this.engine.info().features.includes('projects')) return;
    const tenants = await this.knex('tenants').select<{ id: string }[]>('id');
    for (const tenant of tenants) {
      const limits = await readLimits(this.knex, tenant.id);
      if (limits) await this.sync(tenant.id, limits);
    }
  }
}
