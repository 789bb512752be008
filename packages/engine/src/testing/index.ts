/** Helpers for tests and benchmarks with real guests: `@labvisor/engine/testing`. */
export { FakeDriver } from '../drivers/fake/fake-driver.js';
export { BOOT_SECTOR_MARKER, buildMarkerBootSector } from './boot-sector.js';
export * from './incus-cluster.js';
export * from './network-lab.js';
export { SerialClient } from './serial-client.js';
export * from './tiny-container-image.js';
export * from './tiny-image.js';
export { findProcessesUsing, killQemusUnder, SHELL_PROMPT, VmHarness } from './vm-harness.js';
