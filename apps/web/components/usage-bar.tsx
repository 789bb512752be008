/** How full a bar is, for its colour: calm, close to the limit, at it. */
function levelOf(used: number, limit: number): 'ok' | 'high' | 'full' {
  if (used <= 0) return 'ok';
  if (used >= limit) return 'full';
  return used / limit >= 0.8 ? 'high' : 'ok';
}

/** One resource's use against its limit: the label, "used / limit unit" and a bar. */
export function UsageBar({
  label,
  used,
  limit,
  unit = '',
}: {
  label: string;
  used: number;
  limit: number;
  unit?: string;
}) {
  const percent = limit > 0 ? Math.min(100, (used / limit) * 100) : used > 0 ? 100 : 0;
  const text = `${formatNumber(used)} / ${formatNumber(limit)}${unit ? ` ${unit}` : ''}`;
  return (
    <div className="usage-bar">
      <div className="usage-bar-label">
        <span>{label}</span>
        <span className="usage-bar-numbers">{text}</span>
      </div>
      <meter
        className={`usage-meter ${levelOf(used, limit)}`}
        aria-label={label}
        aria-valuetext={text}
        min={0}
        max={100}
        value={percent}
      />
    </div>
  );
}

/** A count or amount as a person reads it: thousands separated, at most two decimals. */
export function formatNumber(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}
