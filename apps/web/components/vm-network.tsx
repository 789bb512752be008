'use client';

import type { NetworkMode, OpenVmPortResponse, Tenant, Vm } from '@labvisor/shared';
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
      {vm.state === 'running' && vm.networkAddress && <OpenPort vm={vm} />}
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

/**
 * Opens a TCP port of the running lab (its web app, a notebook) in a new tab, on a host name of
 * its own; the link the server answers is good for a minute.
 */
function OpenPort({ vm }: { vm: Vm }) {
  const [port, setPort] = useState('8080');
  const [opened, setOpened] = useState<OpenVmPortResponse & { port: string }>();
  const [error, setError] = useState<string>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setOpened(undefined);
    try {
      setOpened({ ...(await api.openVmPort(vm.id, Number(port))), port });
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <form className="form-row" onSubmit={submit} aria-label="Open a port">
      <div className="field">
        <label htmlFor="vm-port">Port of a web app in the lab</label>
        <input
          id="vm-port"
          type="number"
          min={1}
          max={65535}
          required
          value={port}
          onChange={(e) => setPort(e.target.value)}
        />
      </div>
      <button className="button" type="submit">
        Open port
      </button>
      {opened && (
        <p>
          <a href={opened.url} target="_blank" rel="noopener noreferrer">
            Open port {opened.port} in a new tab
          </a>
          {opened.access === 'read-only' ? ' (read-only: you are not its owner)' : ''}
        </p>
      )}
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
