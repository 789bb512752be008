import { EventEmitter } from 'node:events';
import type { ReplicaBus } from '../replicas/replica-bus.js';

/** Who may have lost access: one user (in one tenant, or everywhere), or everyone in a tenant. */
export interface AccessChange {
  userId?: string;
  tenantId?: string;
}

/**
 * Announces changes that can take access away (a member removed or demoted, a tenant deleted),
 * to every replica, so holders of long-lived connections — consoles, event streams — check again
 * at once wherever they are connected.
 */
export class AccessEvents extends EventEmitter<{ 'access-changed': [AccessChange] }> {
  constructor(private readonly bus: ReplicaBus) {
    super();
    bus.on('message', (message) => {
      if (message.type !== 'access-changed') return;
      const { type: _type, ...change } = message;
      this.emit('access-changed', change);
    });
  }

  /** Announces a change to every replica (this one included). */
  changed(change: AccessChange): Promise<void> {
    return this.bus.publish({ type: 'access-changed', ...change });
  }
}
