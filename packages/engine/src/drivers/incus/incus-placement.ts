import type { IncusPoller } from './incus-poller.js';

/**
 * Where new labs go: the online member with the fewest instances. Incus's own placement puts
 * parallel creates on one member (each sees the same counts), and a class arrives in parallel, so
 * the count includes the instances placed since the poller's last read.
 */
export class IncusPlacement {
  readonly #poller: IncusPoller;
  /** Instances placed on a member that no read has listed yet: member by instance name. */
  readonly #placed = new Map<string, string>();

  constructor(poller: IncusPoller) {
    this.#poller = poller;
  }

  /** Picks a member for `instance` and counts it there; undefined without online members. */
  place(instance: string): string | undefined {
    const counts = this.count();
    let best: string | undefined;
    for (const member of this.#poller.list()) {
      if (member.status !== 'Online') continue;
      const count = counts.get(member.name) ?? 0;
      if (best === undefined || count < (counts.get(best) ?? 0)) best = member.name;
    }
    if (best) this.#placed.set(instance, best);
    return best;
  }

  /** Forgets a placement: the create failed, or a read lists the instance now. */
  forget(instance: string): void {
    this.#placed.delete(instance);
  }

  /** Instances per member (those `include` keeps), as last read and placed since. */
  count(include: (instance: string) => boolean = () => true): Map<string, number> {
    const counts = new Map<string, number>();
    const locations = [
      ...this.#poller
        .instances()
        .filter((instance) => include(instance.name))
        .map((instance) => instance.location),
      ...[...this.#placed].filter(([name]) => include(name)).map(([, member]) => member),
    ];
    for (const location of locations) counts.set(location, (counts.get(location) ?? 0) + 1);
    return counts;
  }
}
