'use client';

import type { VmActivity } from '@labvisor/shared';
import { useEffect, useState } from 'react';
import { api, describeError } from '@/lib/api';
import { formatDateTime, timeAgo } from '@/lib/format';

/** What an audit action on a VM means, as the end of a sentence that starts with who did it. */
function describeActivity(entry: VmActivity): string {
  const details = entry.details as {
    name?: string;
    kind?: string;
    mode?: string;
    memory?: boolean;
  };
  switch (entry.action) {
    case 'vm.create':
      return 'created the VM';
    case 'vm.start':
      return 'started it';
    case 'vm.stop':
      return 'stopped it';
    case 'vm.reboot':
      return 'rebooted it';
    case 'vm.suspend':
      return 'suspended it';
    case 'vm.resume':
      return 'resumed it';
    case 'snapshot.create':
      return `took snapshot “${details.name}”${details.memory ? ' with memory' : ''}`;
    case 'snapshot.restore':
      return `restored snapshot “${details.name}”`;
    case 'snapshot.delete':
      return `deleted snapshot “${details.name}”`;
    case 'console.open': {
      const what = details.kind === 'vnc' ? 'desktop' : 'terminal';
      return details.mode === 'view' ? `watched the ${what}` : `opened the ${what}`;
    }
    default:
      return entry.action;
  }
}

/** A VM's recent activity, newest first: who started, stopped, restored or opened a console, when. */
export function VmActivityList({ vmId, version }: { vmId: string; version: string }) {
  const [entries, setEntries] = useState<VmActivity[]>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    const load = () =>
      api.vmActivity(vmId).then(
        (items) => {
          setEntries(items);
          setError(undefined);
        },
        (caught: unknown) => setError(describeError(caught)),
      );
    // Read again whenever the VM changes or gains activity (`version`), whoever acted.
    load();
  }, [vmId, version]);

  if (error) return <p className="alert error">{error}</p>;
  if (!entries) return <p className="muted">Loading activity…</p>;
  if (entries.length === 0) return <p className="empty">Nothing has happened to this VM yet.</p>;
  return (
    <ul className="activity">
      {entries.map((entry) => (
        <li key={entry.id}>
          <span>
            <strong>{entry.actorName ?? 'A removed user'}</strong> {describeActivity(entry)}
          </span>
          <time
            className="muted small"
            dateTime={entry.createdAt}
            title={formatDateTime(entry.createdAt)}
          >
            {timeAgo(entry.createdAt)}
          </time>
        </li>
      ))}
    </ul>
  );
}
