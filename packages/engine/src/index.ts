/** The engine: this host's VMs behind one facade. Driver internals live under subpaths. */
export type { CapacityReport, HostResources, OvercommitRatios } from './capacity.js';
export { DEFAULT_OVERCOMMIT } from './capacity.js';
export type {
  ConsoleKind,
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  ExitInfo,
  HostMember,
  ProjectLimits,
  RunState,
  SnapshotInfo,
  StartOptions,
} from './drivers/driver.js';
export { MAX_GUEST_FILE_BYTES } from './drivers/driver.js';
export type { DriverConfig } from './drivers/registry.js';
export type {
  CreateSnapshotOptions,
  DriverFactory,
  EngineConfig,
  StopOptions,
  VmSource,
  VmStateEvent,
  VmStatus,
} from './engine.js';
export { createEngine, Engine, SHUTDOWN_TIMEOUT_MS } from './engine.js';
export type { EngineErrorCode } from './errors.js';
export { ENGINE_ERROR_CODES, EngineError, isEngineError, toEngineError } from './errors.js';
export type { InspectedImage } from './images/image-inspection.js';
export { inspectImage } from './images/image-inspection.js';
export {
  addToImageStore,
  removeFromImageStore,
  storedImagePath,
} from './images/image-store.js';
export type { EngineLogger } from './logger.js';
export { SILENT_LOGGER } from './logger.js';
export type {
  QuotaDecision,
  QuotaLimits,
  QuotaRequest,
  QuotaResource,
  QuotaUsage,
} from './quota.js';
export { checkQuota, listQuotaViolations, QUOTA_RESOURCES } from './quota.js';
export type {
  DiskThrottle,
  GuestConfig,
  HomeDisk,
  NetworkLimits,
  VmBoot,
  VmNetwork,
  VmSpec,
} from './spec.js';
export {
  GUEST_HOSTNAME_PATTERN,
  GUEST_USER_PATTERN,
  toHostname,
  VM_ID_PATTERN,
  validateVmSpec,
} from './spec.js';
