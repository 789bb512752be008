/** QMP event names the engine listens to. */
export const QMP_EVENTS = {
  SHUTDOWN: 'SHUTDOWN',
  POWERDOWN: 'POWERDOWN',
  RESET: 'RESET',
  STOP: 'STOP',
  RESUME: 'RESUME',
  SUSPEND: 'SUSPEND',
  WAKEUP: 'WAKEUP',
  GUEST_PANICKED: 'GUEST_PANICKED',
  BLOCK_IO_ERROR: 'BLOCK_IO_ERROR',
  MIGRATION: 'MIGRATION',
  JOB_STATUS_CHANGE: 'JOB_STATUS_CHANGE',
  VNC_CONNECTED: 'VNC_CONNECTED',
  VNC_DISCONNECTED: 'VNC_DISCONNECTED',
} as const;

/** One of the names in {@link QMP_EVENTS} (QEMU may send others; they are still delivered). */
export type QmpEventName = (typeof QMP_EVENTS)[keyof typeof QMP_EVENTS];

/** An asynchronous QMP event as received. */
export interface QmpEvent<D = Record<string, unknown>> {
  event: string;
  data: D;
  timestamp: { seconds: number; microseconds: number };
}

/** Data of SHUTDOWN: `guest: true` when the guest asked (ACPI poweroff), `reason` says why. */
export interface ShutdownEventData {
  guest: boolean;
  reason:
    | 'host-error'
    | 'host-qmp-quit'
    | 'host-qmp-system-reset'
    | 'host-signal'
    | 'host-ui'
    | 'guest-shutdown'
    | 'guest-reset'
    | 'guest-panic'
    | 'subsystem-reset'
    | 'snapshot-load'
    | string;
}

/** Data of JOB_STATUS_CHANGE. */
export interface JobStatusChangeData {
  id: string;
  status: string;
}

/** Data of MIGRATION. */
export interface MigrationEventData {
  status: string;
}
