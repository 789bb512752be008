import { QmpMonitor } from './monitor.js';

/** QEMU run states as `query-status` reports them. */
export type QemuRunState =
  | 'running'
  | 'paused'
  | 'prelaunch'
  | 'inmigrate'
  | 'postmigrate'
  | 'finish-migrate'
  | 'save-vm'
  | 'restore-vm'
  | 'shutdown'
  | 'suspended'
  | 'watchdog'
  | 'guest-panicked'
  | 'internal-error'
  | 'io-error'
  | 'colo'
  | 'debug';

/** Reply of `query-status`. */
export interface StatusInfo {
  running: boolean;
  singlestep?: boolean;
  status: QemuRunState;
}

/** Reply of `query-version`. */
export interface VersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** Reply of `query-migrate` (the fields the engine uses). */
export interface MigrationInfo {
  status?:
    | 'none'
    | 'setup'
    | 'cancelling'
    | 'cancelled'
    | 'active'
    | 'postcopy-active'
    | 'device'
    | 'completed'
    | 'failed'
    | 'pre-switchover'
    | string;
  'error-desc'?: string;
  'total-time'?: number;
  ram?: { transferred: number; total: number };
}

/** One entry of `query-jobs`. */
export interface JobInfo {
  id: string;
  type: string;
  status: 'created' | 'running' | 'paused' | 'ready' | 'concluded' | 'null' | string;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

/** A QMP client with one typed method per command the engine uses; `run()` remains for the rest. */
export class QmpClient extends QmpMonitor {
  /** `query-status`: the run state. */
  queryStatus(): Promise<StatusInfo> {
    return this.run<StatusInfo>('query-status');
  }

  /** `query-version`. */
  queryVersion(): Promise<VersionInfo> {
    return this.run<VersionInfo>('query-version');
  }

  /** `stop`: pause the vCPUs. */
  stop(): Promise<void> {
    return this.run('stop');
  }

  /** `cont`: resume the vCPUs. */
  cont(): Promise<void> {
    return this.run('cont');
  }

  /** `system_powerdown`: press the ACPI power button. */
  systemPowerdown(): Promise<void> {
    return this.run('system_powerdown');
  }

  /** `system_reset`: hard reset. */
  systemReset(): Promise<void> {
    return this.run('system_reset');
  }

  /** `quit`: end QEMU at once (the guest gets no warning). */
  quit(): Promise<void> {
    return this.run('quit');
  }

  /** `migrate-set-parameters`. */
  migrateSetParameters(parameters: Record<string, unknown>): Promise<void> {
    return this.run('migrate-set-parameters', parameters);
  }

  /** `migrate` to a URI such as `unix:/run/x/migrate.sock`. */
  migrate(uri: string): Promise<void> {
    return this.run('migrate', { uri });
  }

  /** `migrate-set-capabilities`: turns each named capability on (or off). */
  migrateSetCapabilities(capabilities: Record<string, boolean>): Promise<void> {
    return this.run('migrate-set-capabilities', {
      capabilities: Object.entries(capabilities).map(([capability, state]) => ({
        capability,
        state,
      })),
    });
  }

  /** `migrate-incoming`: loads a state (QEMU started with `-incoming defer`) from a URI. */
  migrateIncoming(uri: string): Promise<void> {
    return this.run('migrate-incoming', { uri });
  }

  /** `block_resize`: the disk's new size, which the guest is told of. */
  blockResize(nodeName: string, sizeBytes: number): Promise<void> {
    return this.run('block_resize', { 'node-name': nodeName, size: sizeBytes });
  }

  /** `query-migrate`. */
  queryMigrate(): Promise<MigrationInfo> {
    return this.run<MigrationInfo>('query-migrate');
  }

  /** `snapshot-save` job: internal snapshot of `devices` with the VM state stored in `vmstate`. */
  snapshotSave(jobId: string, tag: string, vmstate: string, devices: string[]): Promise<void> {
    return this.run('snapshot-save', { 'job-id': jobId, tag, vmstate, devices });
  }

  /** `snapshot-load` job. */
  snapshotLoad(jobId: string, tag: string, vmstate: string, devices: string[]): Promise<void> {
    return this.run('snapshot-load', { 'job-id': jobId, tag, vmstate, devices });
  }

  /** `snapshot-delete` job. */
  snapshotDelete(jobId: string, tag: string, devices: string[]): Promise<void> {
    return this.run('snapshot-delete', { 'job-id': jobId, tag, devices });
  }

  /** `blockdev-snapshot-internal-sync`: disk-only internal snapshot of a running VM. */
  blockdevSnapshotInternalSync(device: string, name: string): Promise<void> {
    return this.run('blockdev-snapshot-internal-sync', { device, name });
  }

  /** `blockdev-snapshot-delete-internal-sync`. */
  blockdevSnapshotDeleteInternalSync(device: string, name: string): Promise<unknown> {
    return this.run('blockdev-snapshot-delete-internal-sync', { device, name });
  }

  /** `query-jobs`. */
  queryJobs(): Promise<JobInfo[]> {
    return this.run<JobInfo[]>('query-jobs');
  }

  /** `job-dismiss`: forget a concluded job. */
  jobDismiss(id: string): Promise<void> {
    return this.run('job-dismiss', { id });
  }

  /** `human-monitor-command`: an HMP command line, for what QMP lacks. */
  humanMonitorCommand(commandLine: string): Promise<string> {
    return this.run<string>('human-monitor-command', { 'command-line': commandLine });
  }
}
