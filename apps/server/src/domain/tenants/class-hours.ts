import {
  type ClassSession,
  describeSession,
  type PutScheduleRequest,
  WEEKDAYS,
} from '@labvisor/shared';
import type { Knex } from 'knex';
import { AppError } from '../../errors.js';
import { type Actor, hasRole } from '../auth/access.js';

/** A tenant's class hours as stored. */
export interface ScheduleRow {
  tenant_id: string;
  time_zone: string;
  sessions: ClassSession[];
  prepare_minutes: number;
  allow_outside: boolean;
  /** Whether class hours were on at the last check; null before the first. */
  in_class_hours: boolean | null;
}

/** A tenant's class hours, or undefined without any. */
export function readSchedule(knex: Knex, tenantId: string): Promise<ScheduleRow | undefined> {
  return knex<ScheduleRow>('tenant_schedules').where({ tenant_id: tenantId }).first();
}

/** The day and minute of the day that `at` is in `timeZone`. */
function localTimeOf(at: Date, timeZone: string): { day: string; minute: number } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const part = (type: string) => parts.find((each) => each.type === type)?.value ?? '';
  return {
    day: part('weekday').toLowerCase(),
    minute: Number(part('hour')) * 60 + Number(part('minute')),
  };
}

function minuteOf(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return hours! * 60 + minutes!;
}

/** Whether a session of the schedule is on at `at`. */
function inSession(schedule: Pick<PutScheduleRequest, 'timeZone' | 'sessions'>, at: Date): boolean {
  const { day, minute } = localTimeOf(at, schedule.timeZone);
  return schedule.sessions.some(
    (session) =>
      session.day === day && minuteOf(session.start) <= minute && minute < minuteOf(session.end),
  );
}

/**
 * Whether class hours are on at `now`: a session is, or one starts within the preparation minutes
 * (the labs it will use are brought back before it).
 */
export function inClassHours(schedule: PutScheduleRequest, now: Date): boolean {
  return (
    inSession(schedule, now) ||
    inSession(schedule, new Date(now.getTime() + schedule.prepareMinutes * 60_000))
  );
}

/** The schedule as the API answers it. */
export function toScheduleRequest(row: ScheduleRow): PutScheduleRequest {
  return {
    timeZone: row.time_zone,
    sessions: row.sessions,
    prepareMinutes: row.prepare_minutes,
    allowOutside: row.allow_outside,
  };
}

/** The sessions as people read them, in week order: `Mon 09:00–11:00, Wed 14:00–16:00`. */
export function describeSessions(sessions: readonly ClassSession[]): string {
  return [...sessions]
    .sort(
      (a, b) => WEEKDAYS.indexOf(a.day) - WEEKDAYS.indexOf(b.day) || a.start.localeCompare(b.start),
    )
    .map(describeSession)
    .join(', ');
}

/**
 * Refuses (FORBIDDEN, with the class hours in the sentence) a member's start of a lab outside
 * its tenant's class hours, unless the tenant allows it; instructors and admins start any time.
 */
export async function assertWithinClassHours(
  knex: Knex,
  actor: Actor,
  tenantId: string,
  now = new Date(),
): Promise<void> {
  if (hasRole(actor, tenantId, 'instructor')) return;
  const row = await readSchedule(knex, tenantId);
  if (!row || row.allow_outside) return;
  const schedule = toScheduleRequest(row);
  if (inClassHours(schedule, now)) return;
  throw new AppError(
    'FORBIDDEN',
    `Labs of this class run during class hours only: ${describeSessions(schedule.sessions)} (${schedule.timeZone}). Start it then, or ask your instructor.`,
    { reason: 'schedule' },
  );
}
