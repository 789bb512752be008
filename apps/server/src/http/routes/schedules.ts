import type { ScheduleService } from '../../domain/tenants/schedule-service.js';
import type { Handlers } from '../router.js';

/** A tenant's class hours: `/api/v1/tenants/:tenantId/schedule`. */
export function scheduleHandlers(
  schedules: ScheduleService,
): Handlers<'getSchedule' | 'putSchedule' | 'deleteSchedule'> {
  return {
    getSchedule: ({ params }, { actor }) => schedules.get(actor, params.tenantId),
    putSchedule: ({ params, body }, { actor, ip }) =>
      schedules.put(actor, params.tenantId, body, ip),
    deleteSchedule: ({ params }, { actor, ip }) => schedules.remove(actor, params.tenantId, ip),
  };
}
