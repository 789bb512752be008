import { z } from 'zod';

/** The days of a week, as a schedule names them. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** A day of the week. */
export type Weekday = (typeof WEEKDAYS)[number];

const clockTimeSchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM (00:00 to 23:59)');

/** One weekly class session, in the schedule's time zone: `start` before `end`, on one day. */
export const classSessionSchema = z
  .strictObject({ day: z.enum(WEEKDAYS), start: clockTimeSchema, end: clockTimeSchema })
  .refine((session) => session.start < session.end, {
    message: 'must end after it starts, on the same day',
    path: ['end'],
  });

/** A weekly class session. */
export type ClassSession = z.infer<typeof classSessionSchema>;

/** Whether `timeZone` is an IANA time zone this server knows (e.g. `Europe/Paris`). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Most sessions one week may hold. */
export const MAX_CLASS_SESSIONS = 50;

/**
 * Body of `PUT /api/v1/tenants/:tenantId/schedule`: the class hours. Outside them the members'
 * running labs are suspended (their work kept), and members may start labs only with
 * `allowOutside`; `prepareMinutes` before a session, the labs the schedule suspended resume.
 */
export const putScheduleRequestSchema = z
  .strictObject({
    timeZone: z.string().refine(isKnownTimeZone, 'must be an IANA time zone, e.g. Europe/Paris'),
    sessions: z.array(classSessionSchema).min(1).max(MAX_CLASS_SESSIONS),
    prepareMinutes: z.int().min(0).max(120),
    allowOutside: z.boolean(),
  })
  .superRefine((schedule, context) => {
    const sorted = [...schedule.sessions].sort(
      (a, b) => WEEKDAYS.indexOf(a.day) - WEEKDAYS.indexOf(b.day) || a.start.localeCompare(b.start),
    );
    for (let index = 1; index < sorted.length; index++) {
      const [before, after] = [sorted[index - 1]!, sorted[index]!];
      if (before.day === after.day && after.start < before.end) {
        context.addIssue({
          code: 'custom',
          path: ['sessions'],
          message: `sessions ${describeSession(before)} and ${describeSession(after)} overlap`,
        });
        return;
      }
    }
  });

/** Body of `PUT /api/v1/tenants/:tenantId/schedule`. */
export type PutScheduleRequest = z.infer<typeof putScheduleRequestSchema>;

/** A tenant's class hours, and whether a session (or its preparation) is on now. */
export const scheduleSchema = z.object({
  schedule: z
    .object({
      timeZone: z.string(),
      sessions: z.array(classSessionSchema),
      prepareMinutes: z.int(),
      allowOutside: z.boolean(),
    })
    .nullable(),
  /** Whether class hours are on now (a session, or the minutes before it). False without one. */
  inClassHours: z.boolean(),
});

/** A tenant's class hours. */
export type Schedule = z.infer<typeof scheduleSchema>;

/** A session as people read it: `Mon 09:00–11:00`. */
export function describeSession(session: ClassSession): string {
  return `${session.day.charAt(0).toUpperCase()}${session.day.slice(1)} ${session.start}–${session.end}`;
}
