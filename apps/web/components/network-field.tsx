'use client';

import type { NetworkMode } from '@labvisor/shared';

/** What each network mode gives a lab, as the portal names it. */
export const NETWORK_LABELS: Record<NetworkMode, string> = {
  none: 'No network',
  internet: 'Internet (outbound only)',
  class: 'Class network',
};

/** One sentence on what a lab with `mode` reaches. */
export function networkDescription(mode: NetworkMode, classInternet: boolean): string {
  switch (mode) {
    case 'none':
      return 'The lab reaches nothing and nothing reaches it.';
    case 'internet':
      return 'The lab reaches public internet addresses (apt, pip, git), never this server, other labs or private networks.';
    case 'class':
      return classInternet
        ? 'The lab shares a private network with its class’s other labs, and reaches the internet.'
        : 'The lab shares a private network with its class’s other labs, and nothing else.';
  }
}

/** A labelled choice among the network modes the platform offers. */
export function NetworkField({
  id,
  label,
  modes,
  value,
  onChange,
}: {
  id: string;
  label: string;
  modes: NetworkMode[];
  value: NetworkMode;
  onChange: (mode: NetworkMode) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as NetworkMode)}>
        {modes.map((mode) => (
          <option key={mode} value={mode}>
            {NETWORK_LABELS[mode]}
          </option>
        ))}
      </select>
    </div>
  );
}
