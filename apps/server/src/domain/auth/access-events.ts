import { EventEmitter } from 'node:events';

/** Who may have lost access: one user (in one tenant, or everywhere), or everyone in a tenant. */
export interface AccessChange {
  userId?: string;
  tenantId?: string;
}

/**
 * Announces changes that can take access away (a member removed or demoted, a tenant deleted),
 * so holders of long-lived connections — consoles — check again at once.
 */
export class AccessEvents extends EventEmitter<{ 'access-changed': [AccessChange] }> {
  /** Announces a change. */
  changed(change: AccessChange): void {
    this.emit('access-changed', change);
  }
}
