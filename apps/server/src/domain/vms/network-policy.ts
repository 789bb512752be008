import type { Engine, VmNetwork } from '@labvisor/engine';
import type { NetworkMode } from '@labvisor/shared';
import type { TenantRow } from '../../db/queries/tenants.js';
import { AppError } from '../../errors.js';

/**
 * Which networks VMs may have here: the platform's configured modes (`LABVISOR_NETWORK_MODES`)
 * that the engine can run (`internet` and `class` need its guest networks); `none` always.
 */
export class NetworkPolicy {
  readonly #configured: readonly NetworkMode[];
  readonly #engine: Engine;

  constructor(configured: readonly NetworkMode[], engine: Engine) {
    this.#configured = configured;
    this.#engine = engine;
  }

  /** The modes offered now. */
  modes(): NetworkMode[] {
    const engineHasNetworks = this.#engine.info().features.includes('guest-networks');
    return ['none', ...this.#configured.filter((mode) => mode !== 'none' && engineHasNetworks)];
  }

  /** Refuses a mode this platform does not offer, saying why, for `field`. */
  assertOffered(mode: NetworkMode, field: string): void {
    if (this.modes().includes(mode)) return;
    const why = this.#configured.includes(mode)
      ? (this.#engine.info().details.guestNetworks ?? 'guest networks are off')
      : 'the platform does not offer it';
    throw new AppError('VALIDATION', `No "${mode}" network here: ${why.replace(/^off: /, '')}.`, {
      field,
      offered: this.modes(),
    });
  }
}

/** The engine's network of a VM of `tenant` with `mode`: a class segment is its tenant's. */
export function vmNetworkOf(mode: NetworkMode, tenant: TenantRow): VmNetwork {
  if (mode === 'none') return { mode };
  const limits = tenant.bandwidth_mbps === null ? {} : { bandwidthMbps: tenant.bandwidth_mbps };
  if (mode === 'class')
    return { mode: 'class', segment: tenant.id, internet: tenant.class_internet, ...limits };
  return { mode, ...limits };
}
