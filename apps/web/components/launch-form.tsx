'use client';

import type { CreateVmRequest, Image, Membership, Quota } from '@labvisor/shared';
import { type FormEvent, useEffect, useState } from 'react';
import { api, describeError } from '@/lib/api';

/** Launches a new lab from an image; checks the quota (dry run) as the values change, before submit. */
export function LaunchForm({
  memberships,
  onLaunched,
}: {
  memberships: Membership[];
  onLaunched: () => void;
}) {
  const [images, setImages] = useState<Image[]>([]);
  const [tenantId, setTenantId] = useState(memberships[0]?.tenantId ?? '');
  const [imageId, setImageId] = useState('');
  const [name, setName] = useState('lab-1');
  const [vcpus, setVcpus] = useState(1);
  const [memoryMib, setMemoryMib] = useState(256);
  const [diskGib, setDiskGib] = useState(1);
  const [quota, setQuota] = useState<Quota>();
  const [refusal, setRefusal] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.listImages().then(
      (list) => {
        setImages(list);
        const first = list[0];
        if (first) {
          setImageId(first.id);
          setVcpus(first.defaultVcpus);
          setMemoryMib(first.defaultMemoryMib);
          setDiskGib(first.defaultDiskGib);
        }
      },
      (caught: unknown) => setRefusal(describeError(caught)),
    );
  }, []);

  useEffect(() => {
    if (tenantId) api.quota(tenantId).then(setQuota, () => setQuota(undefined));
  }, [tenantId]);

  const body: CreateVmRequest = { tenantId, imageId, name, vcpus, memoryMib, diskGib };
  const bodyKey = JSON.stringify(body);
  useEffect(() => {
    if (!tenantId || !imageId || !name) return;
    const timer = setTimeout(() => {
      api.checkVm(JSON.parse(bodyKey)).then(
        () => setRefusal(undefined),
        (caught: unknown) => setRefusal(describeError(caught)),
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [bodyKey, tenantId, imageId, name]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await api.createVm(body);
      setName(nextName(name));
      onLaunched();
      if (tenantId) setQuota(await api.quota(tenantId));
    } catch (caught) {
      setRefusal(describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  if (memberships.length === 0) {
    return (
      <p className="empty">You are not in any class or team yet. Ask your instructor to add you.</p>
    );
  }
  const left = quota && {
    vcpus: quota.limits.vcpus - quota.usage.vcpus,
    memoryMib: quota.limits.memoryMib - quota.usage.memoryMib,
    diskGib: quota.limits.diskGib - quota.usage.diskGib,
    runningVms: quota.limits.runningVms - quota.usage.runningVms,
  };
  return (
    <form className="launch" onSubmit={submit} aria-label="Launch a lab">
      <div className="grid">
        {memberships.length > 1 && (
          <div className="field">
            <label htmlFor="launch-tenant">Class or team</label>
            <select
              id="launch-tenant"
              value={tenantId}
              onChange={(e) => setTenantId(e.target.value)}
            >
              {memberships.map((m) => (
                <option key={m.tenantId} value={m.tenantId}>
                  {m.tenantName}
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="field">
          <label htmlFor="launch-image">Image</label>
          <select id="launch-image" value={imageId} onChange={(e) => setImageId(e.target.value)}>
            {images.length === 0 && <option value="">No images yet</option>}
            {images.map((image) => (
              <option key={image.id} value={image.id}>
                {image.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="launch-name">Name</label>
          <input
            id="launch-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={64}
          />
        </div>
        <NumberField
          id="launch-vcpus"
          label="vCPUs"
          value={vcpus}
          min={1}
          max={16}
          left={left?.vcpus}
          onChange={setVcpus}
        />
        <NumberField
          id="launch-memory"
          label="Memory (MiB)"
          value={memoryMib}
          min={64}
          max={65536}
          step={64}
          left={left?.memoryMib}
          onChange={setMemoryMib}
        />
        <NumberField
          id="launch-disk"
          label="Disk (GiB)"
          value={diskGib}
          min={1}
          max={1024}
          left={left?.diskGib}
          onChange={setDiskGib}
        />
      </div>
      {left && (
        <p className="muted small" aria-live="polite">
          Quota left: {left.runningVms} running labs, {left.vcpus} vCPUs, {left.memoryMib} MiB
          memory, {left.diskGib} GiB disk.
        </p>
      )}
      {refusal && (
        <p className="alert error" role="alert">
          {refusal}
        </p>
      )}
      <button
        className="button primary"
        type="submit"
        disabled={busy || Boolean(refusal) || !imageId}
      >
        {busy ? 'Launching…' : 'Launch lab'}
      </button>
    </form>
  );
}

function NumberField(props: {
  id: string;
  label: string;
  value: number;
  min: number;
  max: number;
  step?: number;
  left: number | undefined;
  onChange: (value: number) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        value={props.value}
        min={props.min}
        max={props.max}
        step={props.step ?? 1}
        onChange={(e) => props.onChange(Number(e.target.value))}
        aria-describedby={`${props.id}-left`}
      />
      {props.left !== undefined && (
        <span id={`${props.id}-left`} className="muted small">
          {props.left} left
        </span>
      )}
    </div>
  );
}

function nextName(name: string): string {
  const match = /^(.*?)(\d+)$/.exec(name);
  return match ? `${match[1]}${Number(match[2]) + 1}` : `${name}-2`;
}
