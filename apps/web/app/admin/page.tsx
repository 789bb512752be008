'use client';

import type { HostCapacity, HostMember, Quota, QuotaLimits, Tenant } from '@labvisor/shared';
import { VM_STATES } from '@labvisor/shared';
import Link from 'next/link';
import { type FormEvent, useState } from 'react';
import { ConfirmButton } from '@/components/confirm-button';
import { buildsUnderWay, ImageBuildsCard } from '@/components/image-builds-card';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { ADMIN_SECTION, SectionPage } from '@/components/section-page';
import { formatNumber, UsageBar } from '@/components/usage-bar';
import { useApiLoad, usePolling } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

/** The quota's resources in the order shown, with their labels and units. */
const QUOTA_RESOURCES: Array<{ key: keyof QuotaLimits; label: string; unit: string }> = [
  { key: 'runningVms', label: 'Running VMs', unit: '' },
  { key: 'vcpus', label: 'vCPUs', unit: '' },
  { key: 'memoryMib', label: 'Memory', unit: 'MiB' },
  { key: 'diskGib', label: 'Disk', unit: 'GiB' },
  { key: 'snapshots', label: 'Snapshots', unit: '' },
  { key: 'vmHoursPerMonth', label: 'VM-hours this month', unit: 'h' },
];

/** How often the page looks again while an image is being built. */
const BUILD_POLL_MS = 5000;

/** The platform admin's overview: this host's capacity, and every tenant with its quota and usage. */
export default function AdminTenantsPage() {
  const { me, error } = useSession();
  // The host first: only platform admins get it, so anyone else stops at the refusal.
  const loaded = useApiLoad(me && 'admin', async () => {
    const host = await api.host();
    const tenants = await api.listTenants();
    const quotas = await Promise.all(tenants.map((tenant) => api.quota(tenant.id)));
    return { host, tenants: tenants.map((tenant, index) => ({ tenant, quota: quotas[index]! })) };
  });
  const actions = usePageActions(loaded.reload);
  const [editing, setEditing] = useState<string>();
  // While an image is being built in the background, the page follows its steps.
  const building = loaded.data ? buildsUnderWay(loaded.data.host.imageBuilds) : false;
  const { reload } = loaded;
  usePolling(building, reload, BUILD_POLL_MS);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;

  /** A change that was made closes the form it came from. */
  const run = async (work: () => Promise<unknown>, done: string): Promise<boolean> => {
    const succeeded = await actions.run(work, done);
    if (succeeded) setEditing(undefined);
    return succeeded;
  };

  const { data } = loaded;
  return (
    <SectionPage
      me={me}
      section={ADMIN_SECTION}
      sectionLabel="Admin"
      title="Tenants and host"
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      {!data ? (
        !loaded.error && <p className="muted">Loading…</p>
      ) : (
        <>
          <HostCard host={data.host} />
          {data.host.members.length > 0 && (
            <MembersCard
              members={data.host.members}
              onEvacuate={(member) =>
                run(
                  () => api.evacuateMember(member),
                  `Evacuated ${member}: its labs run on the other members.`,
                )
              }
              onRestore={(member) =>
                run(() => api.restoreMember(member), `Restored ${member}: its labs are back.`)
              }
            />
          )}
          {data.host.imageBuilds.length > 0 && <ImageBuildsCard builds={data.host.imageBuilds} />}
          <section className="card" aria-labelledby="tenants-title">
            <h2 id="tenants-title">Tenants</h2>
            <CreateTenantForm
              onCreate={(name) => run(() => api.createTenant(name), `Created tenant ${name}.`)}
            />
            {data.tenants.length === 0 ? (
              <p className="empty">No tenants yet. Create the first one above.</p>
            ) : (
              <ul className="tenant-list">
                {data.tenants.map(({ tenant, quota }) => (
                  <TenantItem
                    key={tenant.id}
                    tenant={tenant}
                    quota={quota}
                    editing={editing === tenant.id}
                    onEdit={(open) => setEditing(open ? tenant.id : undefined)}
                    onSaveQuota={(limits) =>
                      run(
                        () => api.putQuota(tenant.id, limits),
                        `Saved the quota of ${tenant.name}.`,
                      )
                    }
                    onDelete={() =>
                      run(() => api.deleteTenant(tenant.id), `Deleted tenant ${tenant.name}.`)
                    }
                  />
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </SectionPage>
  );
}

function HostCard({ host }: { host: HostCapacity }) {
  const states = VM_STATES.filter((state) => host.vmsByState[state] > 0);
  return (
    <section className="card" aria-labelledby="host-title">
      <h2 id="host-title">This host</h2>
      {host.engineError && <p className="alert error">VMs cannot run: {host.engineError}</p>}
      <dl className="facts">
        <dt>CPUs</dt>
        <dd>
          {host.host.vcpus} ({host.allocatable.vcpus} vCPUs may be handed out)
        </dd>
        <dt>Memory</dt>
        <dd>
          {formatNumber(host.host.memoryMib)} MiB ({formatNumber(host.allocatable.memoryMib)} MiB
          may be handed out)
        </dd>
        <dt>Engine</dt>
        <dd>
          {host.driver} {host.driverVersion}
          {host.details.accel &&
            `, ${host.details.accel === 'kvm' ? 'KVM (hardware)' : 'TCG (software emulation)'}`}
          {host.details.accelReason && (
            <>
              <br />
              <span className="muted">{host.details.accelReason}</span>
            </>
          )}
        </dd>
      </dl>
      <div className="bars">
        <UsageBar label="vCPUs in use" used={host.used.vcpus} limit={host.allocatable.vcpus} />
        <UsageBar
          label="Memory in use"
          used={host.used.memoryMib}
          limit={host.allocatable.memoryMib}
          unit="MiB"
        />
      </div>
      <p className="vm-states">
        <span className="muted">VMs by state:</span>{' '}
        {states.length === 0
          ? 'no VMs yet'
          : states.map((state) => (
              <span key={state} className={`badge state-${state}`}>
                {host.vmsByState[state]} {state}
              </span>
            ))}
      </p>
    </section>
  );
}

/** The cluster's members (Incus driver): state, capacity, labs placed, evacuate or restore. */
function MembersCard({
  members,
  onEvacuate,
  onRestore,
}: {
  members: HostMember[];
  onEvacuate: (member: string) => Promise<boolean>;
  onRestore: (member: string) => Promise<boolean>;
}) {
  const [busy, setBusy] = useState<string>();
  const act = async (member: string, action: (member: string) => Promise<boolean>) => {
    setBusy(member);
    await action(member);
    setBusy(undefined);
  };
  return (
    <section className="card" aria-labelledby="members-title">
      <h2 id="members-title">Cluster members</h2>
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">State</th>
            <th scope="col">CPUs</th>
            <th scope="col">Memory</th>
            <th scope="col">Labs</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {members.map((member) => (
            <tr key={member.name}>
              <td>{member.name}</td>
              <td>
                {member.status}
                {member.message && member.status !== 'Online' && (
                  <div className="muted small">{member.message}</div>
                )}
              </td>
              <td>{member.vcpus}</td>
              <td>{formatNumber(member.memoryMib)} MiB</td>
              <td>{member.vms}</td>
              <td className="actions">
                {member.status === 'Evacuated' ? (
                  <button
                    className="button"
                    type="button"
                    disabled={busy !== undefined}
                    onClick={() => act(member.name, onRestore)}
                  >
                    {busy === member.name ? 'Restoring…' : `Restore ${member.name}`}
                  </button>
                ) : (
                  <button
                    className="button"
                    type="button"
                    disabled={busy !== undefined || member.status !== 'Online'}
                    onClick={() => act(member.name, onEvacuate)}
                  >
                    {busy === member.name ? 'Evacuating…' : `Evacuate ${member.name}`}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function TenantItem({
  tenant,
  quota,
  editing,
  onEdit,
  onSaveQuota,
  onDelete,
}: {
  tenant: Tenant;
  quota: Quota;
  editing: boolean;
  onEdit: (open: boolean) => void;
  onSaveQuota: (limits: QuotaLimits) => void;
  onDelete: () => void;
}) {
  const headingId = `tenant-${tenant.id}`;
  return (
    <li className="tenant" aria-labelledby={headingId}>
      <div className="tenant-head">
        <h3 id={headingId}>{tenant.name}</h3>
        <Link href={`/tenants/${tenant.id}/members`}>Members</Link>
        <Link href={`/tenants/${tenant.id}/usage`}>Usage</Link>
        <span className="spacer" />
        <button
          className="button"
          type="button"
          aria-expanded={editing}
          aria-label={`Edit quota of ${tenant.name}`}
          onClick={() => onEdit(!editing)}
        >
          Edit quota
        </button>
        <ConfirmButton
          label="Delete"
          ariaLabel={`Delete ${tenant.name}`}
          question={`Delete ${tenant.name}? Only a tenant without VMs can be deleted; its members’ home disks are deleted with it.`}
          confirmLabel="Delete tenant"
          danger
          onConfirm={onDelete}
        />
      </div>
      {editing ? (
        <QuotaForm
          tenant={tenant}
          limits={quota.limits}
          onSave={onSaveQuota}
          onCancel={() => onEdit(false)}
        />
      ) : (
        <div className="bars">
          {QUOTA_RESOURCES.map(({ key, label, unit }) => (
            <UsageBar
              key={key}
              label={label}
              used={quota.usage[key]}
              limit={quota.limits[key]}
              unit={unit}
            />
          ))}
        </div>
      )}
    </li>
  );
}

function QuotaForm({
  tenant,
  limits,
  onSave,
  onCancel,
}: {
  tenant: Tenant;
  limits: QuotaLimits;
  onSave: (limits: QuotaLimits) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState(() =>
    Object.fromEntries(QUOTA_RESOURCES.map(({ key }) => [key, String(limits[key])])),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSave(
      Object.fromEntries(
        QUOTA_RESOURCES.map(({ key }) => [key, Number(values[key])]),
      ) as QuotaLimits,
    );
  };
  return (
    <form className="quota-form" onSubmit={submit} aria-label={`Quota of ${tenant.name}`}>
      <div className="form-row">
        {QUOTA_RESOURCES.map(({ key, label, unit }) => (
          <div className="field" key={key}>
            <label htmlFor={`${tenant.id}-${key}`}>
              {label}
              {unit && ` (${unit})`}
            </label>
            <input
              id={`${tenant.id}-${key}`}
              type="number"
              min={0}
              step={1}
              required
              inputMode="numeric"
              value={values[key]}
              onChange={(event) => setValues({ ...values, [key]: event.target.value })}
            />
          </div>
        ))}
      </div>
      <div className="toolbar">
        <button className="button primary" type="submit">
          Save quota
        </button>
        <button className="button" type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function CreateTenantForm({ onCreate }: { onCreate: (name: string) => Promise<boolean> }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    if (await onCreate(name.trim())) setName('');
    setBusy(false);
  };
  return (
    <form className="form-row" onSubmit={submit}>
      <div className="field grow">
        <label htmlFor="tenant-name">New tenant's name</label>
        <input
          id="tenant-name"
          required
          maxLength={64}
          placeholder="e.g. Networking 101"
          value={name}
          onChange={(event) => setName(event.target.value)}
        />
      </div>
      <button className="button primary" type="submit" disabled={busy}>
        Create tenant
      </button>
    </form>
  );
}
