'use client';

import { type PutScheduleRequest, WEEKDAYS, type Weekday } from '@labvisor/shared';
import { type FormEvent, useState } from 'react';
import { NumberField } from '@/components/number-field';

const DAY_NAMES: Record<Weekday, string> = {
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
  sun: 'Sunday',
};

/** A new schedule: one session, in the browser's time zone. */
function blankSchedule(): PutScheduleRequest {
  return {
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    sessions: [{ day: 'mon', start: '09:00', end: '11:00' }],
    prepareMinutes: 10,
    allowOutside: false,
  };
}

/**
 * Sets a tenant's class hours: weekly sessions in a time zone, how long before a session the
 * labs come back, and whether members may run labs outside them.
 */
export function ScheduleForm({
  initial,
  onSave,
}: {
  initial: PutScheduleRequest | null;
  onSave: (schedule: PutScheduleRequest) => Promise<unknown>;
}) {
  const [values, setValues] = useState<PutScheduleRequest>(() => initial ?? blankSchedule());
  const [busy, setBusy] = useState(false);
  const change = (changed: Partial<PutScheduleRequest>) =>
    setValues((current) => ({ ...current, ...changed }));
  const changeSession = (index: number, changed: Partial<PutScheduleRequest['sessions'][number]>) =>
    change({
      sessions: values.sessions.map((session, at) =>
        at === index ? { ...session, ...changed } : session,
      ),
    });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await onSave(values);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-label="Class hours">
      <div className="field">
        <label htmlFor="schedule-time-zone">Time zone</label>
        <input
          id="schedule-time-zone"
          value={values.timeZone}
          onChange={(event) => change({ timeZone: event.target.value })}
        />
      </div>
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {values.sessions.map((session, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place, by position.
            <tr key={index}>
              <td>
                <select
                  aria-label={`Day of session ${index + 1}`}
                  value={session.day}
                  onChange={(event) => changeSession(index, { day: event.target.value as Weekday })}
                >
                  {WEEKDAYS.map((day) => (
                    <option key={day} value={day}>
                      {DAY_NAMES[day]}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <input
                  type="time"
                  aria-label={`Start of session ${index + 1}`}
                  value={session.start}
                  onChange={(event) => changeSession(index, { start: event.target.value })}
                />
              </td>
              <td>
                <input
                  type="time"
                  aria-label={`End of session ${index + 1}`}
                  value={session.end}
                  onChange={(event) => changeSession(index, { end: event.target.value })}
                />
              </td>
              <td>
                <button
                  className="button"
                  type="button"
                  disabled={values.sessions.length === 1}
                  onClick={() =>
                    change({ sessions: values.sessions.filter((_, at) => at !== index) })
                  }
                >
                  Remove session {index + 1}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        className="button"
        type="button"
        onClick={() =>
          change({ sessions: [...values.sessions, { day: 'mon', start: '14:00', end: '16:00' }] })
        }
      >
        Add a session
      </button>
      <div className="grid">
        <NumberField
          id="schedule-prepare"
          label="Minutes before a session when its labs come back"
          value={values.prepareMinutes}
          min={0}
          max={120}
          onChange={(prepareMinutes) => change({ prepareMinutes })}
        />
      </div>
      <label className="check">
        <input
          type="checkbox"
          checked={values.allowOutside}
          onChange={(event) => change({ allowOutside: event.target.checked })}
        />
        Students may start labs outside class hours
      </label>
      <button className="button primary" type="submit" disabled={busy}>
        {busy ? 'Saving…' : 'Save class hours'}
      </button>
    </form>
  );
}
