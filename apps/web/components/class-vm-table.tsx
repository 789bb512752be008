'use client';

import type { ConsoleConnection, Member, Vm } from '@labvisor/shared';
import Link from 'next/link';
import { formatDateTime, timeAgo } from '@/lib/format';
import { ActionFeedback, usePageActions } from './page-actions';
import { StateBadge } from './state-badge';
import { hasConsole, VmLifecycleButtons } from './vm-list';

/** States in which a VM has consoles to watch or take over. */

/** One person on one VM's console, in words: "ana — terminal" or "bo — desktop, watching". */
function describeConnection(connection: ConsoleConnection): string {
  const what = connection.kind === 'vnc' ? 'desktop' : 'terminal';
  return `${connection.name} — ${what}${connection.mode === 'view' ? ', watching' : ''}`;
}

/**
 * Every VM of a class for its instructors: whose it is, its state and resources, when someone last
 * typed in it, who is connected now; Watch, Take over, start and stop.
 */
export function ClassVmTable({
  vms,
  members,
  connections,
  onChange,
}: {
  vms: Vm[];
  members: Member[];
  connections: ConsoleConnection[];
  onChange: () => void;
}) {
  const actions = usePageActions(onChange);
  const owners = new Map(members.map((member) => [member.userId, member]));
  if (vms.length === 0) return <p className="empty">No labs in this class yet.</p>;
  return (
    <>
      <ActionFeedback actions={actions} />
      <table className="table class-table">
        <thead>
          <tr>
            <th scope="col">Student</th>
            <th scope="col">Lab</th>
            <th scope="col">State</th>
            <th scope="col">Resources</th>
            <th scope="col">Last input</th>
            <th scope="col">Connected now</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {vms.map((vm) => {
            const owner = owners.get(vm.ownerId);
            const connected = connections.filter((connection) => connection.vmId === vm.id);
            return (
              <tr key={vm.id}>
                <td>
                  {owner ? (
                    <>
                      {owner.name}
                      <div className="muted small">{owner.email}</div>
                    </>
                  ) : (
                    <span className="muted">No longer a member</span>
                  )}
                </td>
                <td className="nowrap">
                  <Link href={`/vms/${vm.id}`}>{vm.name}</Link>
                </td>
                <td>
                  <StateBadge state={vm.state} />
                </td>
                <td className="muted">
                  {vm.vcpus} vCPU · {vm.memoryMib} MiB · {vm.diskGib} GiB
                </td>
                <td>
                  {vm.lastActivityAt ? (
                    <time dateTime={vm.lastActivityAt} title={formatDateTime(vm.lastActivityAt)}>
                      {timeAgo(vm.lastActivityAt)}
                    </time>
                  ) : (
                    <span className="muted">Never</span>
                  )}
                </td>
                <td>
                  {connected.length === 0 ? (
                    <span className="muted">Nobody</span>
                  ) : (
                    <ul className="plain connected" aria-label={`Connected to ${vm.name}`}>
                      {connected.map((connection) => (
                        <li
                          key={`${connection.userId}:${connection.kind}:${connection.mode}`}
                          title={`${connection.email}, since ${formatDateTime(connection.since)}`}
                        >
                          {describeConnection(connection)}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td className="actions">
                  {hasConsole(vm) && (
                    <div>
                      <Link
                        className="button"
                        href={`/vms/${vm.id}?mode=view`}
                        aria-label={`Watch ${vm.name}`}
                      >
                        Watch
                      </Link>
                      <Link
                        className="button"
                        href={`/vms/${vm.id}`}
                        aria-label={`Take over ${vm.name}`}
                      >
                        Take over
                      </Link>
                    </div>
                  )}
                  <div>
                    <VmLifecycleButtons vm={vm} actions={actions} />
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
