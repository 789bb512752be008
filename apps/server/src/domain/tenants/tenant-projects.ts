import type { ProjectLimits } from '@labvisor/engine';
import type { QuotaLimits } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

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
  async sync(tenantId: string, limits: Pick<QuotaLimits, 'diskGib'>): Promise<void> {
    if (!this.engine.info().features.includes('projects')) return;
    try {
      await this.engine.syncProject(tenantId, { instances: limits.diskGib });
    } catch (error) {
      this.logger.warn({ err: error, tenantId }, 'cannot mirror the tenant quota onto its project');
    }
  }

  /** Mirrors every tenant's limits (at the server's start), read in one query. */
  async syncAll(): Promise<void> {
    if (!this.engine.info().features.includes('projects')) return;
    const quotas = await this.knex('quotas').select<{ tenant_id: string; disk_gib: number }[]>(
      'tenant_id',
      'disk_gib',
    );
    for (const quota of quotas) await this.sync(quota.tenant_id, { diskGib: quota.disk_gib });
  }
}
