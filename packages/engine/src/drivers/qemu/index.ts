/**
 * The QEMU driver's internals, for tests and benchmarks that look beneath the engine facade:
 * `@labvisor/engine/qemu`. The server never imports this.
 */
export { type Accelerator, chooseAccelerator, probeAccelerator } from './accel-probe.js';
export { tapName } from './network/addressing.js';
export { buildQemuArgs, GUEST_CONFIG_FW_CFG_NAME, guestConfigJson } from './qemu-args.js';
export { QemuDriver, type QemuDriverConfig } from './qemu-driver.js';
export { type QemuPaths, qemuPaths } from './qemu-paths.js';
export { QmpClient } from './qmp/commands.js';
export {
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './qmp/errors.js';
export { QMP_EVENTS } from './qmp/events.js';
export { QmpMonitor } from './qmp/monitor.js';
