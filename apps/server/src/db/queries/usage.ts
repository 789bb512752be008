import type { TenantUsage } from '@labvisor/shared';
import type { Knex } from 'knex';

/**
 * A tenant's VM-hours per UTC day and person over the last `days` days (today included). Each
 * metered interval is split at UTC midnights; an interval still open counts up to now.
 */
export async function readDailyUsage(
  knex: Knex,
  tenantId: string,
  days: number,
): Promise<TenantUsage> {
  const { rows } = (await knex.raw(
    `with day as (
       select d::date as date, d at time zone 'UTC' as starts, (d + interval '1 day') at time zone 'UTC' as ends
       from generate_series(
         date_trunc('day', now() at time zone 'UTC') - make_interval(days => ?),
         date_trunc('day', now() at time zone 'UTC'),
         interval '1 day'
       ) as d
     )
     select to_char(day.date, 'YYYY-MM-DD') as date, usage.user_id, count(usage.id) as intervals,
       sum(extract(epoch from
         least(coalesce(usage.ended_at, now()), now(), day.ends) - greatest(usage.started_at, day.starts)
       )) / 3600 as hours
     from day
     left join usage_intervals usage
       on usage.tenant_id = ?
      and usage.started_at < day.ends
      and coalesce(usage.ended_at, now()) > day.starts
     group by day.date, usage.user_id
     order by day.date, usage.user_id`,
    [days - 1, tenantId],
  )) as {
    rows: Array<{
      date: string;
      user_id: string | null;
      intervals: string | number;
      hours: string | number | null;
    }>;
  };
  // A day without any interval comes back as one row with no user and no intervals.
  const used = rows.filter((row) => Number(row.intervals) > 0);
  const userIds = [...new Set(used.flatMap((row) => (row.user_id ? [row.user_id] : [])))];
  const users = await knex('users')
    .whereIn('id', userIds)
    .orderBy('name')
    .select<{ id: string; name: string; email: string }[]>('id', 'name', 'email');
  const members: TenantUsage['members'] = users.map((user) => ({
    userId: user.id,
    name: user.name,
    email: user.email,
  }));
  if (used.some((row) => row.user_id === null))
    members.push({ userId: null, name: 'Deleted accounts', email: null });
  return {
    days: [...new Set(rows.map((row) => row.date))],
    members,
    items: used
      .map((row) => ({
        date: row.date,
        userId: row.user_id,
        vmHours: Math.round(Number(row.hours) * 100) / 100,
      }))
      .filter((item) => item.vmHours > 0),
  };
}

/** Seconds of a usage interval that fall in this month: the `vmHoursPerMonth` meter. */
const SECONDS_THIS_MONTH =
  "extract(epoch from (coalesce(ended_at, now()) - greatest(started_at, date_trunc('month', now()))))";

/** The usage intervals of a tenant that overlap this month, of one member when `userId` is given. */
function intervalsThisMonth(knex: Knex, tenantId: string, userId?: string): Knex.QueryBuilder {
  return knex('usage_intervals')
    .where({ tenant_id: tenantId, ...(userId ? { user_id: userId } : {}) })
    .andWhere((q) =>
      q.whereNull('ended_at').orWhere('ended_at', '>', knex.raw("date_trunc('month', now())")),
    );
}

/**
 * The seconds metered this month (a running VM counted up to now) in a tenant, of one member when
 * `userId` is given: a subquery of one value, for a query that reads more at once.
 */
export function secondsThisMonthQuery(
  knex: Knex,
  tenantId: string,
  userId?: string,
): Knex.QueryBuilder {
  return intervalsThisMonth(knex, tenantId, userId).select(
    knex.raw(`coalesce(sum(${SECONDS_THIS_MONTH}), 0)`),
  );
}

/** Seconds as hours, rounded to a hundredth. */
export function hoursOf(seconds: number): number {
  return Math.round((seconds / 3600) * 100) / 100;
}

/**
 * Hours metered this month (a running VM counted up to now) in a tenant, of one member when
 * `userId` is given.
 */
export async function readHoursThisMonth(
  knex: Knex,
  tenantId: string,
  userId?: string,
): Promise<number> {
  const [row] = await knex.select<{ seconds: string | number }[]>(
    secondsThisMonthQuery(knex, tenantId, userId).as('seconds'),
  );
  return hoursOf(Number(row?.seconds ?? 0));
}

/**
 * Hours metered this month in a tenant per member (`all`: the whole tenant), rounded to a
 * hundredth; only `userId`'s when given.
 */
export async function readHoursThisMonthByUser(
  knex: Knex,
  tenantId: string,
  userId?: string,
): Promise<Map<string, number>> {
  const rows = await intervalsThisMonth(knex, tenantId, userId)
    .groupBy('user_id')
    .select<{ user_id: string | null; seconds: string | null }[]>(
      'user_id',
      knex.raw(`sum(${SECONDS_THIS_MONTH}) as seconds`),
    );
  const byUser = new Map<string, number>();
  let all = 0;
  for (const row of rows) {
    const seconds = Number(row.seconds ?? 0);
    all += seconds;
    if (row.user_id) byUser.set(row.user_id, hoursOf(seconds));
  }
  byUser.set('all', hoursOf(all));
  return byUser;
}
