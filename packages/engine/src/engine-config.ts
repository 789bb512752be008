import type { HostResources, OvercommitRatios } from './capacity.js';
import type { Driver, DriverObserver } from './drivers/driver.js';
import type { DriverConfig } from './drivers/registry.js';
import type { EngineLogger } from './logger.js';

/** How long a guest gets to power off after the ACPI power button before it is ended. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

/** What the run directory's file system keeps free by default (see {@link EngineConfig}). */
export const DEFAULT_MIN_FREE_DISK_BYTES = 1024 ** 3;

/** Configuration of an engine; the server builds it from its validated environment. */
export interface EngineConfig {
  /** One folder per VM, named by the VM id. */
  runDir: string;
  /** Which driver runs the guests, and its settings. */
  driver: DriverConfig;
  /** Host resources to hand out; default what the driver reports. */
  host?: HostResources;
  /** Overcommit ratios; default memory 1.0, vCPUs 4.0. */
  overcommit?: Partial<OvercommitRatios>;
  /**
   * Bytes the run directory's file system keeps free (default {@link DEFAULT_MIN_FREE_DISK_BYTES}):
   * a create, snapshot or suspend that would leave less is refused with CAPACITY_EXCEEDED, so
   * that running guests' disks still have room to grow. Guests that find the disk full anyway are
   * paused by QEMU (`werror=enospc`), never handed a write error.
   */
  minFreeDiskBytes?: number;
  logger?: EngineLogger;
}

/** Options of {@link Engine.stopVm}. */
export interface StopOptions {
  /** Grace period after the ACPI power button (default {@link SHUTDOWN_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Skip the power button: end the guest at once. */
  force?: boolean;
}

/** Options of {@link Engine.createSnapshot}. */
export interface CreateSnapshotOptions {
  name: string;
  /** Also save the guest's memory (only while it runs or is paused). */
  memory?: boolean;
}

/** Builds a driver for an engine; tests of the facade pass one that builds a fake. */
export type DriverFactory = (observer: DriverObserver, logger: EngineLogger) => Promise<Driver>;
