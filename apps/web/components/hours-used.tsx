'use client';

import type { Membership, Quota } from '@labvisor/shared';
import { useEffect, useState } from 'react';
import { api } from '@/lib/api';

/** The share of a budget from which the page warns. */
const WARNING_SHARE = 0.8;

/** One class's hours this month, as the member reads them, and whether they near the budget. */
function hoursLine(tenantName: string, quota: Quota): { text: string; near: boolean } {
  const own = quota.yours.vmHoursPerMonth;
  if (own !== null) {
    const used = quota.yours.vmHoursThisMonth;
    return {
      text: `${tenantName}: ${used} of your ${own} hours used this month.`,
      near: used >= own * WARNING_SHARE,
    };
  }
  const used = quota.usage.vmHoursPerMonth;
  const limit = quota.limits.vmHoursPerMonth;
  return {
    text: `${tenantName}: the class used ${used} of its ${limit} hours this month (you: ${quota.yours.vmHoursThisMonth}).`,
    near: used >= limit * WARNING_SHARE,
  };
}

/**
 * The hours the member's labs ran this month in each class, beside their budget (their own, or the
 * class's); a warning from 80 %, since at 100 % running labs are suspended.
 */
export function HoursUsed({ memberships }: { memberships: Membership[] }) {
  const [quotas, setQuotas] = useState<Array<{ tenantName: string; quota: Quota }>>([]);
  useEffect(() => {
    Promise.all(
      memberships.map(async (m) => ({
        tenantName: m.tenantName,
        quota: await api.quota(m.tenantId),
      })),
    ).then(setQuotas, () => setQuotas([]));
  }, [memberships]);
  return (
    <>
      {quotas.map(({ tenantName, quota }) => {
        const line = hoursLine(tenantName, quota);
        return line.near ? (
          <p key={tenantName} className="alert warning" role="status">
            {line.text} At 100 % running labs are suspended, their work kept.
          </p>
        ) : (
          <p key={tenantName} className="muted small">
            {line.text}
          </p>
        );
      })}
    </>
  );
}
