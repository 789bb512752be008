export type { CapacityReport, HostResources, OvercommitRatios } from './capacity.js';
export {
  assertCapacity,
  computeAllocatable,
  computeCapacity,
  DEFAULT_OVERCOMMIT,
  detectHostResources,
} from './capacity.js';
export { SerialClient } from './consoles/serial-client.js';
export type {
  Accelerator,
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  ExitInfo,
  RunState,
  SnapshotInfo,
  StartOptions,
} from './driver.js';
export type {
  ConsoleEndpoints,
  CreateSnapshotOptions,
  EngineConfig,
  StopOptions,
  VmStateEvent,
  VmStatus,
} from './engine.js';
export { createEngine, Engine, SHUTDOWN_TIMEOUT_MS } from './engine.js';
export type { EngineErrorCode } from './errors.js';
export { ENGINE_ERROR_CODES, EngineError, isEngineError, toEngineError } from './errors.js';
export type { EngineLogger } from './logger.js';
export { SILENT_LOGGER } from './logger.js';
export type { VmPaths } from './paths.js';
export { vmPaths } from './paths.js';
export { chooseAccelerator, probeAccelerator } from './qemu/accel-probe.js';
export { buildQemuArgs, GUEST_CONFIG_FW_CFG_NAME, guestConfigJson } from './qemu/qemu-args.js';
export { QmpClient } from './qemu/qmp/commands.js';
export {
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './qemu/qmp/errors.js';
export { QMP_EVENTS } from './qemu/qmp/events.js';
export { QmpMonitor } from './qemu/qmp/monitor.js';
export type {
  QuotaDecision,
  QuotaLimits,
  QuotaRequest,
  QuotaResource,
  QuotaUsage,
} from './quota.js';
export { checkQuota, listQuotaViolations, QUOTA_RESOURCES } from './quota.js';
export { SNAPSHOT_NAME_PATTERN } from './snapshots/internal-snapshots.js';
export type { DiskThrottle, GuestConfig, VmBoot, VmSpec } from './spec.js';
export {
  GUEST_HOSTNAME_PATTERN,
  GUEST_USER_PATTERN,
  toHostname,
  VM_ID_PATTERN,
  validateVmSpec,
} from './spec.js';
export type { VmState } from './state.js';
export {
  canTransition,
  RESOURCE_HOLDING_STATES,
  VM_STATES,
  VM_TRANSITIONS,
} from './state.js';
