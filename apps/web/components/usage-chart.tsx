import type { TenantUsage } from '@labvisor/shared';
import { useId } from 'react';
import { formatNumber } from './usage-bar';

/** Colours told apart by colour-blind readers too (Okabe–Ito, then a few darker ones). */
const PALETTE = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#cc79a7',
  '#56b4e9',
  '#d55e00',
  '#6b6ecf',
  '#8c6d31',
  '#5b6675',
  '#1b2430',
];

const WIDTH = 960;
const HEIGHT = 280;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 48 };
/** Every how many days the x axis names a day (counted back from today, so today is named). */
const LABEL_EVERY_DAYS = 5;

/** A UTC day (`YYYY-MM-DD`) as a short label: "Nov 25". */
function dayLabel(date: string): string {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString('en-US', {
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC',
  });
}

/** A round step for about four grid lines up to `max`: 1, 2, 2.5 or 5 times a power of ten. */
function gridStep(max: number): number {
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((step) => step >= raw)!;
}

/** A member's key in the maps below (deleted accounts have no id). */
const keyOf = (userId: string | null) => userId ?? 'deleted';

/** The colour of the `index`th member, in the bars and the legend. */
const colourOf = (index: number) => PALETTE[index % PALETTE.length];

/** A tenant's usage summed up: per day and member, per day, per member and in all. */
interface UsageTotals {
  /** The VM-hours of one member on one day (0 when none). */
  hoursOf: (date: string, userId: string | null) => number;
  /** VM-hours per day, in the order of `usage.days`. */
  dayTotals: number[];
  /** VM-hours per member, in the order of `usage.members`. */
  memberTotals: number[];
  total: number;
  /** The index of the day with the most VM-hours. */
  busiest: number;
}

/** Sums a tenant's usage items by day and by member. */
function totalUsage(usage: TenantUsage): UsageTotals {
  const hours = new Map<string, number>();
  for (const item of usage.items) hours.set(`${item.date} ${keyOf(item.userId)}`, item.vmHours);
  const hoursOf = (date: string, userId: string | null) =>
    hours.get(`${date} ${keyOf(userId)}`) ?? 0;
  const dayTotals = usage.days.map((date) =>
    usage.members.reduce((sum, member) => sum + hoursOf(date, member.userId), 0),
  );
  const memberTotals = usage.members.map((member) =>
    usage.days.reduce((sum, date) => sum + hoursOf(date, member.userId), 0),
  );
  const total = dayTotals.reduce((sum, value) => sum + value, 0);
  const busiest = dayTotals.indexOf(Math.max(...dayTotals));
  return { hoursOf, dayTotals, memberTotals, total, busiest };
}

/**
 * VM-hours per day as stacked bars, one colour per person, with a legend, a title on every
 * segment and the same numbers as a table for screen readers and for copying.
 */
export function UsageChart({ usage }: { usage: TenantUsage }) {
  const totals = totalUsage(usage);
  return (
    <figure className="usage-chart">
      <UsageBars usage={usage} totals={totals} />
      <figcaption>
        <ul className="chart-legend" aria-label="Members">
          {usage.members.map((member, index) => (
            <li key={keyOf(member.userId)}>
              <span className="chart-swatch" style={{ background: colourOf(index) }} />
              <span>{member.name}</span>
              <span className="muted">{formatNumber(totals.memberTotals[index]!)} h</span>
            </li>
          ))}
        </ul>
      </figcaption>
      <UsageTable usage={usage} totals={totals} />
    </figure>
  );
}

/** The chart itself: grid lines on round numbers, a stacked bar per day, every fifth day named. */
function UsageBars({ usage, totals }: { usage: TenantUsage; totals: UsageTotals }) {
  const id = useId();
  const { dayTotals, total, busiest } = totals;
  const step = gridStep(Math.max(...dayTotals, 1));
  const yMax = step * Math.ceil(Math.max(...dayTotals, 1) / step);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotWidth / usage.days.length;
  const barWidth = Math.max(2, slot * 0.7);
  const y = (value: number) => MARGIN.top + plotHeight - (value / yMax) * plotHeight;
  const ticks = Array.from({ length: Math.round(yMax / step) + 1 }, (_, index) => index * step);
  const first = usage.days[0];
  const last = usage.days[usage.days.length - 1];

  return (
    <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={`${id}-title ${id}-desc`}>
      <title id={`${id}-title`}>
        VM-hours per day and member, {first && dayLabel(first)} to {last && dayLabel(last)} (UTC)
      </title>
      <desc id={`${id}-desc`}>
        {`${formatNumber(total)} VM-hours in total; the busiest day was ${dayLabel(usage.days[busiest]!)} with ${formatNumber(dayTotals[busiest]!)}.`}
      </desc>
      {ticks.map((tick) => (
        <g key={tick} className="chart-grid">
          <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(tick)} y2={y(tick)} />
          <text x={MARGIN.left - 6} y={y(tick)} dy="0.32em" textAnchor="end">
            {formatNumber(tick)}
          </text>
        </g>
      ))}
      <text
        className="chart-axis-title"
        transform={`translate(12 ${MARGIN.top + plotHeight / 2}) rotate(-90)`}
        textAnchor="middle"
      >
        VM-hours
      </text>
      {usage.days.map((date, dayIndex) => (
        <DayBar
          key={date}
          date={date}
          members={usage.members}
          hoursOf={totals.hoursOf}
          x={MARGIN.left + dayIndex * slot + (slot - barWidth) / 2}
          width={barWidth}
          y={y}
          labelled={(usage.days.length - 1 - dayIndex) % LABEL_EVERY_DAYS === 0}
        />
      ))}
      <line
        className="chart-baseline"
        x1={MARGIN.left}
        x2={WIDTH - MARGIN.right}
        y1={y(0)}
        y2={y(0)}
      />
    </svg>
  );
}

/** One day's bar: a segment per member who used VMs that day, stacked, and the day's name below. */
function DayBar({
  date,
  members,
  hoursOf,
  x,
  width,
  y,
  labelled,
}: {
  date: string;
  members: TenantUsage['members'];
  hoursOf: UsageTotals['hoursOf'];
  x: number;
  width: number;
  /** The height on the chart of a number of VM-hours. */
  y: (value: number) => number;
  labelled: boolean;
}) {
  let stacked = 0;
  return (
    <g>
      {members.map((member, memberIndex) => {
        const value = hoursOf(date, member.userId);
        if (value <= 0) return null;
        const top = y(stacked + value);
        const height = y(stacked) - top;
        stacked += value;
        return (
          <rect
            key={keyOf(member.userId)}
            x={x}
            y={top}
            width={width}
            height={Math.max(height, 1)}
            fill={colourOf(memberIndex)}
          >
            <title>{`${dayLabel(date)}: ${member.name}, ${formatNumber(value)} VM-hours`}</title>
          </rect>
        );
      })}
      {labelled && (
        <text
          className="chart-day"
          x={x + width / 2}
          y={HEIGHT - MARGIN.bottom + 18}
          textAnchor="middle"
        >
          {dayLabel(date)}
        </text>
      )}
    </g>
  );
}

/** The chart's numbers as a table, folded away: a row per day, a column per member. */
function UsageTable({ usage, totals }: { usage: TenantUsage; totals: UsageTotals }) {
  return (
    <details className="chart-table">
      <summary>Show the numbers as a table</summary>
      <table className="table">
        <caption className="visually-hidden">VM-hours per day (UTC) and member</caption>
        <thead>
          <tr>
            <th scope="col">Day (UTC)</th>
            {usage.members.map((member) => (
              <th key={keyOf(member.userId)} scope="col">
                {member.name}
              </th>
            ))}
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          {usage.days.map((date, dayIndex) => (
            <tr key={date}>
              <th scope="row">{date}</th>
              {usage.members.map((member) => (
                <td key={keyOf(member.userId)}>
                  {formatNumber(totals.hoursOf(date, member.userId))}
                </td>
              ))}
              <td>{formatNumber(totals.dayTotals[dayIndex]!)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
