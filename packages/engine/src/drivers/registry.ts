import type { EngineLogger } from '../logger.js';
import type { Driver, DriverObserver } from './driver.js';
import { IncusDriver, type IncusDriverConfig } from './incus/incus-driver.js';
import { QemuDriver, type QemuDriverConfig } from './qemu/qemu-driver.js';

/** Which driver runs the guests, with its settings; `kind` names the driver. */
export type DriverConfig = QemuDriverConfig | IncusDriverConfig;

/** Creates the driver a configuration names. */
export function createDriver(
  config: DriverConfig,
  logger: EngineLogger,
  observer: DriverObserver,
): Promise<Driver> {
  switch (config.kind) {
    case 'qemu':
      return QemuDriver.create(config, logger, observer);
    case 'incus':
      return IncusDriver.create(config, logger, observer);
  }
}
