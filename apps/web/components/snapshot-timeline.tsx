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

  const refresh = useCallback(() => {
    api
      .listSnapshots(vm.id)
      .then(setSnapshots, (caught: unknown) => setError(describeError(caught)));
  }, [vm.id]);
  useEffect(refresh, [refresh]);

  /** Runs a change with `progress` showing meanwhile; true when it was made. */
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
      <TakeSnapshotForm
        memoryPossible={LIVE_STATES.includes(vm.state)}
        busy={busy !== undefined}
        onTake={(name, memory) =>
          run(`Taking snapshot “${name}”${memory ? ' with memory' : ''}…`, () =>
            api.createSnapshot(vm.id, { name, memory }),
          )
        }
      />
      {!snapshots ? (
        <p className="muted">Loading snapshots…</p>
      ) : newestFirst.length === 0 ? (
        <p className="empty">No snapshots yet. Take one before you try something risky.</p>
      ) : (
        <ol className="timeline" aria-label="Snapshots, newest first">
          {newestFirst.map((snapshot, index) => {
            const olderNeighbour = newestFirst[index + 1];
            const branched = snapshot.parentId !== null && snapshot.parentId !== olderNeighbour?.id;
            return (
              <SnapshotEntry
                key={snapshot.id}
                snapshot={snapshot}
                vm={vm}
                branchedFrom={branched ? nameOf(snapshot.parentId!) : undefined}
                busy={busy !== undefined}
                onRestore={() =>
                  void run(`Restoring “${snapshot.name}”…`, () =>
                    api.restoreSnapshot(vm.id, snapshot.id),
                  )
                }
                onDelete={() =>
                  void run(`Deleting “${snapshot.name}”…`, () =>
                    api.deleteSnapshot(vm.id, snapshot.id),
                  )
                }
              />
            );
          })}
        </ol>
      )}
    </>
  );
}

/**
 * Names a new snapshot and whether it keeps memory (`memoryPossible` only while the VM runs);
 * the name clears once the snapshot is taken.
 */
function TakeSnapshotForm({
  memoryPossible,
  busy,
  onTake,
}: {
  memoryPossible: boolean;
  busy: boolean;
  onTake: (name: string, memory: boolean) => Promise<boolean>;
}) {
  const [name, setName] = useState('');
  const [memory, setMemory] = useState(false);
  const take = async (event: FormEvent) => {
    event.preventDefault();
    if (await onTake(name, memory && memoryPossible)) setName('');
  };
  return (
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
      <button className="button primary" type="submit" disabled={busy}>
        Take snapshot
      </button>
    </form>
  );
}

/** One snapshot on the timeline: what it holds, where it branched from, Restore and Delete. */
function SnapshotEntry({
  snapshot,
  vm,
  branchedFrom,
  busy,
  onRestore,
  onDelete,
}: {
  snapshot: Snapshot;
  vm: Vm;
  /** The name of the snapshot it was taken after, when that is not the one below it. */
  branchedFrom: string | undefined;
  busy: boolean;
  onRestore: () => void;
  onDelete: () => void;
}) {
  const current = snapshot.id === vm.currentSnapshotId;
  return (
    <li className={current ? 'current' : undefined}>
      <div className="what">
        <strong>{snapshot.name}</strong>
        {current && <span className="badge state-running">Current</span>}
        <div className="muted small">
          {formatDateTime(snapshot.createdAt)} · {snapshot.memory ? 'disk and memory' : 'disk only'}{' '}
          · {formatBytes(snapshot.sizeBytes)}
          {branchedFrom !== undefined && ` · branched from “${branchedFrom}”`}
        </div>
      </div>
      <div className="actions">
        <ConfirmButton
          label="Restore"
          ariaLabel={`Restore ${snapshot.name}`}
          disabled={busy}
          question={`Restore “${snapshot.name}”? Everything changed on ${vm.name} since it was taken is lost${snapshot.memory ? '' : ', and a running VM restarts'}.`}
          confirmLabel={`Restore “${snapshot.name}”`}
          onConfirm={onRestore}
        />
        <ConfirmButton
          label="Delete"
          ariaLabel={`Delete ${snapshot.name}`}
          disabled={busy}
          danger
          question={`Delete snapshot “${snapshot.name}”? It cannot be brought back.`}
          confirmLabel={`Delete “${snapshot.name}”`}
          onConfirm={onDelete}
        />
      </div>
    </li>
  );
}
