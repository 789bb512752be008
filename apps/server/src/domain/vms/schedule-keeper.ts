import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { findUserById } from '../../db/queries/users.js';
import type { VmRow } from '../../db/queries/vms.js';
import { loadActor } from '../auth/access.js';
import { inClassHours, type ScheduleRow, toScheduleRequest } from '../tenants/class-hours.js';
import type { VmService } from './vm-service.js';

/** The state reason of a lab the end of class hours suspended (and the start of the next resumes). */
export const SCHEDULE_SUSPENSION =
  'Suspended at the end of class hours; its work is kept, and it resumes before the next session.';

/**
 * Class hours acted on: when they end, the tenant's running labs are suspended (reason
 * `schedule`, work kept); when they start again (`prepareMinutes` before a session), the labs
 * they suspended resume, as their owners, within the tenant's quota. Each change of class hours
 * is claimed in the database first, so it is acted on once, whichever replica checks. Runs from
 * the server's timer (`check`), with the clock given in tests.
 */
export class ScheduleKeeper {
  constructor(private readonly deps: { knex: Knex; vms: VmService; logger: Logger }) {}

  async check(now = new Date()): Promise<void> {
    const rows = await this.deps.knex<ScheduleRow>('tenant_schedules');
    for (const row of rows) {
      const on = inClassHours(toScheduleRequest(row), now);
      if (row.in_class_hours === on) continue;
      const claim = this.deps.knex('tenant_schedules').where({ tenant_id: row.tenant_id });
      if (row.in_class_hours === null) claim.whereNull('in_class_hours');
      else claim.where({ in_class_hours: row.in_class_hours });
      if ((await claim.update({ in_class_hours: on })) === 0) continue;
      // A schedule just set is observed, not acted on: labs running now are left as they are.
      if (row.in_class_hours === null) continue;
      if (on) await this.#resumeSuspended(row.tenant_id);
      else await this.#suspendRunning(row.tenant_id);
    }
  }

  async #suspendRunning(tenantId: string): Promise<void> {
    const running = await this.deps
      .knex<VmRow>('vms')
      .where({ tenant_id: tenantId })
      .whereNull('pool_id')
      .whereIn('state', ['running', 'paused']);
    for (const vm of running) {
      await this.deps.vms
        .suspendByPolicy(vm, { reason: 'schedule', sentence: SCHEDULE_SUSPENSION })
        .catch((error: unknown) =>
          this.deps.logger.warn(
            { err: error, vmId: vm.id },
            'suspending at the end of class failed',
          ),
        );
    }
  }

  async #resumeSuspended(tenantId: string): Promise<void> {
    const suspended = await this.deps
      .knex<VmRow>('vms')
      .where({ tenant_id: tenantId, state: 'suspended', state_reason: SCHEDULE_SUSPENSION })
      .whereNull('pool_id');
    for (const vm of suspended) {
      try {
        const owner = vm.owner_id ? await findUserById(this.deps.knex, vm.owner_id) : undefined;
        if (!owner || owner.disabled) continue;
        const actor = await loadActor(this.deps.knex, owner);
        await this.deps.vms.act(actor, vm.id, 'resume', undefined, { policy: 'schedule' });
      } catch (error) {
        // The quota or the host may be full: the lab stays suspended, its owner resumes it.
        this.deps.logger.warn({ err: error, vmId: vm.id }, 'resuming before class failed');
      }
    }
  }
}
