'use client';

import type { Image, Vm } from '@labvisor/shared';
import { type FormEvent, useEffect, useState } from 'react';
import { ConfirmButton } from '@/components/confirm-button';
import { api, describeError } from '@/lib/api';

/** What resetting the lab throws away, in a sentence the confirmation shows. */
function whatResetLoses(vm: Vm, image: Image, snapshots: number): string {
  const lost = [`everything written to its disk since it was made from “${image.name}”`];
  if (snapshots > 0) lost.push(snapshots === 1 ? 'its snapshot' : `its ${snapshots} snapshots`);
  if (vm.state === 'suspended') lost.push('the session it was suspended in');
  const list = lost.length > 1 ? `${lost.slice(0, -1).join(', ')} and ${lost.at(-1)}` : lost[0];
  const after =
    vm.state === 'running' || vm.state === 'paused'
      ? 'It restarts as new.'
      : 'It stays stopped, as new.';
  return `Lost for good: ${list}. ${after}`;
}

/**
 * Starting over: reset the lab to its image (with a confirmation that names what is lost), and,
 * for the class's instructors, publish a stopped lab as a class template members launch from.
 */
export function StartOverPanel({
  vm,
  supervises,
  onChange,
}: {
  vm: Vm;
  supervises: boolean;
  onChange: () => void;
}) {
  const [image, setImage] = useState<Image>();
  const [snapshots, setSnapshots] = useState(0);
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.listImages().then(
      (images) => setImage(images.find((candidate) => candidate.id === vm.imageId)),
      () => setImage(undefined),
    );
  }, [vm.imageId]);
  useEffect(() => {
    api.listSnapshots(vm.id).then(
      (list) => setSnapshots(list.length),
      () => setSnapshots(0),
    );
  }, [vm.id, vm.currentSnapshotId, vm.state]);

  if (!image || vm.instanceType === 'container') return null;
  const busy = vm.state === 'starting' || vm.state === 'stopping';
  const run = async (work: () => Promise<unknown>, done: string) => {
    setError(undefined);
    setMessage(undefined);
    try {
      await work();
      setMessage(done);
    } catch (caught) {
      setError(describeError(caught));
    }
    onChange();
  };
  return (
    <section className="card" aria-labelledby="start-over-title">
      <h2 id="start-over-title">Start over</h2>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      <p className="alert success" role="status" hidden={!message}>
        {message}
      </p>
      {image.kind === 'iso' ? (
        <p className="muted">
          This lab was installed from an ISO image: there is no image state to reset it to.
        </p>
      ) : (
        <>
          <p className="muted">Reset brings the lab back to its image “{image.name}”.</p>
          <ConfirmButton
            label="Reset the lab"
            question={whatResetLoses(vm, image, snapshots)}
            confirmLabel="Reset and lose it"
            danger
            disabled={busy}
            onConfirm={() =>
              run(() => api.resetVm(vm.id), `${vm.name} is being reset to “${image.name}”.`)
            }
          />
        </>
      )}
      {supervises && <PublishForm vm={vm} onPublish={run} />}
    </section>
  );
}

/** An instructor's form that publishes the stopped lab as a class template. */
function PublishForm({
  vm,
  onPublish,
}: {
  vm: Vm;
  onPublish: (work: () => Promise<unknown>, done: string) => Promise<void>;
}) {
  // Copying a lab's disk takes from seconds to minutes: say so, and take no second click.
  const [publishing, setPublishing] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget).get('name') ?? '').trim();
    setPublishing(true);
    await onPublish(
      () => api.publishVm(vm.id, name),
      `Published “${name}”: members of the class can launch labs from it.`,
    );
    setPublishing(false);
  };
  return (
    <form onSubmit={submit} aria-label="Publish as a class template" className="publish-form">
      <h3>Publish as a class template</h3>
      <p className="muted">
        Its disk becomes an image of the class that members launch from, and reset to.
        {vm.state !== 'stopped' && ' Stop the lab first: its disk must be at rest.'}
      </p>
      <div className="form-row">
        <div className="field">
          <label htmlFor="publish-name">Template name</label>
          <input
            id="publish-name"
            name="name"
            required
            maxLength={64}
            defaultValue={`${vm.name}-template`}
          />
        </div>
        <button className="button" type="submit" disabled={vm.state !== 'stopped' || publishing}>
          {publishing ? 'Publishing…' : 'Publish'}
        </button>
      </div>
      {publishing && (
        <p className="muted" role="status">
          Copying the lab’s disk into the class’s images; a large disk takes a minute or more.
        </p>
      )}
    </form>
  );
}
