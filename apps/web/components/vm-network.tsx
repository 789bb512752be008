'use client';

import type { NetworkMode, Tenant, Vm } from '@labvisor/shared';
import { type FormEvent, useEffect, useState } from 'react';
import { NETWORK_LABELS, NetworkField, networkDescription } from '@/components/network-field';
import { api, describeError } from '@/lib/api';

/** States in which a VM's network may change: no guest runs and none is suspended. */
const CHANGEABLE = ['stopped', 'crashed', 'error'];

/**
 * A VM's network: what it is, its address once it has started with it, and, while the VM is
 * stopped, a choice among the modes its class offers.
 */
export function VmNetwork({ vm, onChanged }: { vm: Vm; onChanged: () => void }) {
  const [tenant, setTenant] = useState<Tenant>();
  const [choice, setChoice] = useState<NetworkMode>(vm.network);
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.getTenant(vm.tenantId).then(setTenant, () => setTenant(undefined));
  }, [vm.tenantId]);
  useEffect(() => setChoice(vm.network), [vm.network]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    try {
      await api.updateVm(vm.id, { network: choice });
      onChanged();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  const changeable = CHANGEABLE.includes(vm.state) && (tenant?.networkModes.length ?? 0) > 1;
  return (
    <section className="card" aria-labelledby="vm-network-title">
      <h2 id="vm-network-title">Network</h2>
      <p>
        {NETWORK_LABELS[vm.network]}
        {vm.networkAddress ? (
          <>
            {' '}
            · address <code>{vm.networkAddress}</code>
          </>
        ) : null}
      </p>
      <p className="muted small">
        {networkDescription(vm.network, tenant?.classInternet ?? false)}
      </p>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      {changeable && tenant && (
        <form className="form-row" onSubmit={submit} aria-label="Change the network">
          <NetworkField
            id="vm-network"
            label="Network from the next start"
            modes={tenant.networkModes}
            value={choice}
            onChange={setChoice}
          />
          <button className="button" type="submit" disabled={choice === vm.network}>
            Change network
          </button>
        </form>
      )}
    </section>
  );
}
