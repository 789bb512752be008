'use client';

import { LIVE_STATES, type Snapshot, type Vm } from '@labvisor/shared';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, describeError } from '@/lib/api';
import { formatBytes, formatDateTime } from '@/lib/format';
import { ConfirmButton } from './confirm-button';

/**
 * A VM's snapshots as a timeline, newest first, the one the VM is at marked; take a snapshot,
 * restore one (after a warning that later changes are lost) or delete one.
 */
export function SnapshotTimeline({ vm, onChange }: { vm: Vm; onChange: () => void }) {
  const [snapshots, setSnapshots] = useState<Snapshot[]>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const [name, setName] = useState('');
  const [memory, setMemory] = useState(false);
  const memoryPossible = LIVE_STATES.includes(vm.state);

  const refresh = useCallback(() => {
    api
      .listSnapshots(vm.id)
      .then(setSnapshots, (caught: unknown) => setError(describeError(caught)));
  }, [vm.id]);
  useEffect(refresh, [refresh]);

  const run = async (progress: string, work: () => Promise<unknown>) => {
    setError(undefined);
    setBusy(progress);
    try {
      await work();
      return true;
    } catch (caught) {
      setError(describeError(caught));
      return false;
    } finally {
      setBusy(undefined);
      refresh();
      onChange();
    }
  };

  const take = async (event: FormEvent) => {
    event.preventDefault();
    const withMemory = memory && memoryPossible;
    const done = await run(`Taking snapshot “${name}”${withMemory ? ' with memory' : ''}…`, () =>
      api.createSnapshot(vm.id, { name, memory: withMemory }),
    );
    if (done) setName('');
  };

  const newestFirst = snapshots ? [...snapshots].reverse() : [];
  const nameOf = (id: string) => snapshots?.find((s) => s.id === id)?.name ?? 'a deleted snapshot';
  return (
    <>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      {busy && (
        <p className="banner" role="status">
          {busy}
        </p>
      )}
      <form className="snapshot-form" onSubmit={take}>
        <div className="field">
          <label htmlFor="snapshot-name">Snapshot name</label>
          <input
            id="snapshot-name"
            value={name}
            required
            maxLength={64}
            placeholder="e.g. before-exercise-2"
            onChange={(event) => setName(event.target.value)}
          />
        </div>
        <label className="check">
          <input
            type="checkbox"
            checked={memory && memoryPossible}
            disabled={!memoryPossible}
            onChange={(event) => setMemory(event.target.checked)}
          />
          Include memory (running programs come back too)
          {!memoryPossible && <span className="muted"> — only while the VM runs</span>}
        </label>
        <button className="button primary" type="submit" disabled={busy !== undefined}>
          Take snapshot
        </button>
      </form>
      {!snapshots ? (
        <p className="muted">Loading snapshots…</p>
      ) : newestFirst.length === 0 ? (
        <p className="empty">No snapshots yet. Take one before you try something risky.</p>
      ) : (
        <ol className="timeline" aria-label="Snapshots, newest first">
          {newestFirst.map((snapshot, index) => {
            const current = snapshot.id === vm.currentSnapshotId;
            const olderNeighbour = newestFirst[index + 1];
            const branched = snapshot.parentId !== null && snapshot.parentId !== olderNeighbour?.id;
            return (
              <li key={snapshot.id} className={current ? 'current' : undefined}>
                <div className="what">
                  <strong>{snapshot.name}</strong>
                  {current && <span className="badge state-running">Current</span>}
                  <div className="muted small">
                    {formatDateTime(snapshot.createdAt)} ·{' '}
                    {snapshot.memory ? 'disk and memory' : 'disk only'} ·{' '}
                    {formatBytes(snapshot.sizeBytes)}
                    {branched && ` · branched from “${nameOf(snapshot.parentId!)}”`}
                  </div>
                </div>
                <div className="actions">
                  <ConfirmButton
                    label="Restore"
                    ariaLabel={`Restore ${snapshot.name}`}
                    disabled={busy !== undefined}
                    question={`Restore “${snapshot.name}”? Everything changed on ${vm.name} since it was taken is lost${snapshot.memory ? '' : ', and a running VM restarts'}.`}
                    confirmLabel={`Restore “${snapshot.name}”`}
                    onConfirm={() =>
                      void run(`Restoring “${snapshot.name}”…`, () =>
                        api.restoreSnapshot(vm.id, snapshot.id),
                      )
                    }
                  />
                  <ConfirmButton
                    label="Delete"
                    ariaLabel={`Delete ${snapshot.name}`}
                    disabled={busy !== undefined}
                    danger
                    question={`Delete snapshot “${snapshot.name}”? It cannot be brought back.`}
                    confirmLabel={`Delete “${snapshot.name}”`}
                    onConfirm={() =>
                      void run(`Deleting “${snapshot.name}”…`, () =>
                        api.deleteSnapshot(vm.id, snapshot.id),
                      )
                    }
                  />
                </div>
              </li>
            );
          })}
        </ol>
      )}
    </>
  );
}
