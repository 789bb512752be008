import type { PutScheduleRequest, Schedule } from '@labvisor/shared';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { type Actor, requireRole } from '../auth/access.js';
import { inClassHours, readSchedule, toScheduleRequest } from './class-hours.js';

/**
 * A tenant's class hours (`/api/v1/tenants/:tenantId/schedule`): members read them, instructors
 * and admins set and remove them. A change is acted on from the next start or end of class hours
 * on (labs running when the schedule is set are left as they are).
 */
export class ScheduleService {
  constructor(
    private readonly knex: Knex,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(actor: Actor, tenantId: string): Promise<Schedule> {
    requireRole(actor, tenantId, 'member');
    const row = await readSchedule(this.knex, tenantId);
    if (!row) return { schedule: null, inClassHours: false };
    const schedule = toScheduleRequest(row);
    return { schedule, inClassHours: inClassHours(schedule, this.now()) };
  }

  async put(
    actor: Actor,
    tenantId: string,
    body: PutScheduleRequest,
    ip: string | undefined,
  ): Promise<Schedule> {
    requireRole(actor, tenantId, 'instructor');
    const row = {
      tenant_id: tenantId,
      time_zone: body.timeZone,
      sessions: JSON.stringify(body.sessions),
      prepare_minutes: body.prepareMinutes,
      allow_outside: body.allowOutside,
      in_class_hours: null,
      updated_at: this.knex.fn.now(),
    };
    await this.knex('tenant_schedules').insert(row).onConflict('tenant_id').merge();
    await this.#audit(actor, tenantId, 'tenant.schedule', ip, body);
    return this.get(actor, tenantId);
  }

  async remove(actor: Actor, tenantId: string, ip: string | undefined): Promise<void> {
    requireRole(actor, tenantId, 'instructor');
    await this.knex('tenant_schedules').where({ tenant_id: tenantId }).delete();
    await this.#audit(actor, tenantId, 'tenant.schedule.remove', ip);
  }

  #audit(
    actor: Actor,
    tenantId: string,
    action: string,
    ip: string | undefined,
    details?: PutScheduleRequest,
  ): Promise<void> {
    return recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId,
      action,
      targetType: 'tenant',
      targetId: tenantId,
      ip,
      ...(details ? { details: { ...details } } : {}),
    });
  }
}
