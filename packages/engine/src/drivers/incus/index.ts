/**
 * The Incus driver's internals, for tests and benchmarks that look beneath the engine facade
 * (a benchmark's raw Incus calls beside the driver's): `@labvisor/engine/incus`.
 */
export { IncusClient, type IncusConnection, IncusError } from './incus-client.js';
export {
  IncusDriver,
  type IncusDriverConfig,
  instanceNameOf,
  projectNameOf,
} from './incus-driver.js';
