'use client';

import type { CreateVmRequest, Image, Membership, Quota, Tenant } from '@labvisor/shared';
import { type FormEvent, useEffect, useState } from 'react';
import { NetworkField, networkDescription } from '@/components/network-field';
import { SizeFields } from '@/components/size-fields';
import { api, describeError } from '@/lib/api';

/** What the quota leaves of each resource a launch takes, for the fields and the note under them. */
type QuotaLeft = Pick<Quota['limits'], 'runningVms' | 'vcpus' | 'memoryMib' | 'diskGib'>;

/** What the quota leaves: its limits less what the tenant uses now. */
function quotaLeft(quota: Quota): QuotaLeft {
  return {
    vcpus: quota.limits.vcpus - quota.usage.vcpus,
    memoryMib: quota.limits.memoryMib - quota.usage.memoryMib,
    diskGib: quota.limits.diskGib - quota.usage.diskGib,
    runningVms: quota.limits.runningVms - quota.usage.runningVms,
  };
}

/** Launches a new lab from an image; checks the quota (dry run) as the values change, before submit. */
export function LaunchForm({
  memberships,
  onLaunched,
}: {
  memberships: Membership[];
  onLaunched: () => void;
}) {
  const [images, setImages] = useState<Image[]>([]);
  const [tenant, setTenant] = useState<Tenant>();
  const [values, setValues] = useState<CreateVmRequest>(() => ({
    tenantId: memberships[0]?.tenantId ?? '',
    imageId: '',
    name: 'lab-1',
    vcpus: 1,
    memoryMib: 256,
    diskGib: 1,
  }));
  const change = (changed: Partial<CreateVmRequest>) =>
    setValues((current) => ({ ...current, ...changed }));
  const [refusal, setRefusal] = useLaunchCheck(values);
  const [quota, reloadQuota] = useTenantQuota(values.tenantId);
  const [busy, setBusy] = useState(false);

  // The tenant's own lab image first (a class's), else the first image listed.
  const { tenantId } = values;
  useEffect(() => {
    if (!tenantId) return;
    Promise.all([api.listImages(), api.getTenant(tenantId)]).then(
      ([list, loaded]) => {
        setImages(list);
        setTenant(loaded);
        const first = list.find((image) => image.id === loaded.defaultImageId) ?? list[0];
        setValues((current) => ({ ...current, network: loaded.defaultNetwork }));
        if (first) {
          setValues((current) => ({
            ...current,
            imageId: first.id,
            vcpus: first.defaultVcpus,
            memoryMib: first.defaultMemoryMib,
            diskGib: first.defaultDiskGib,
          }));
        }
      },
      (caught: unknown) => setRefusal(describeError(caught)),
    );
  }, [tenantId, setRefusal]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await api.createVm(values);
      change({ name: nextName(values.name) });
      onLaunched();
      await reloadQuota();
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
  const left = quota && quotaLeft(quota);
  return (
    <form className="launch" onSubmit={submit} aria-label="Launch a lab">
      <div className="grid">
        <LabFields memberships={memberships} images={images} values={values} onChange={change} />
        <SizeFields idPrefix="launch" values={values} left={left} onChange={change} />
        {tenant && tenant.networkModes.length > 1 && (
          <NetworkField
            id="launch-network"
            label="Network"
            modes={tenant.networkModes}
            value={values.network ?? tenant.defaultNetwork}
            onChange={(network) => change({ network })}
          />
        )}
      </div>
      {tenant && tenant.networkModes.length > 1 && (
        <p className="muted small">
          {networkDescription(values.network ?? tenant.defaultNetwork, tenant.classInternet)}
        </p>
      )}
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
        disabled={busy || Boolean(refusal) || !values.imageId}
      >
        {busy ? 'Launching…' : 'Launch lab'}
      </button>
    </form>
  );
}

/**
 * Why the lab as it stands would be refused: the quota's dry-run answer, asked 250 ms after the
 * last change, or a failure the form sets itself.
 */
function useLaunchCheck(body: CreateVmRequest) {
  const [refusal, setRefusal] = useState<string>();
  const { tenantId, imageId, name } = body;
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
  return [refusal, setRefusal] as const;
}

/** The tenant's quota (undefined when it cannot be read), and reloading it after a launch. */
function useTenantQuota(tenantId: string) {
  const [quota, setQuota] = useState<Quota>();
  useEffect(() => {
    if (tenantId) api.quota(tenantId).then(setQuota, () => setQuota(undefined));
  }, [tenantId]);
  const reload = async () => {
    if (tenantId) setQuota(await api.quota(tenantId));
  };
  return [quota, reload] as const;
}

/** Where the lab goes and what it is: class or team (when there is a choice), image and name. */
function LabFields({
  memberships,
  images,
  values,
  onChange,
}: {
  memberships: Membership[];
  images: Image[];
  values: CreateVmRequest;
  onChange: (changed: Partial<CreateVmRequest>) => void;
}) {
  return (
    <>
      {memberships.length > 1 && (
        <div className="field">
          <label htmlFor="launch-tenant">Class or team</label>
          <select
            id="launch-tenant"
            value={values.tenantId}
            onChange={(e) => onChange({ tenantId: e.target.value })}
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
        <select
          id="launch-image"
          value={values.imageId}
          onChange={(e) => onChange({ imageId: e.target.value })}
        >
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
          value={values.name}
          onChange={(e) => onChange({ name: e.target.value })}
          required
          maxLength={64}
        />
      </div>
    </>
  );
}

function nextName(name: string): string {
  const match = /^(.*?)(\d+)$/.exec(name);
  return match ? `${match[1]}${Number(match[2]) + 1}` : `${name}-2`;
}
