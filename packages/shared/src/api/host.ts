import { z } from 'zod';
import { vmStateSchema } from './vms.js';

const resourcesSchema = z.object({ vcpus: z.number(), memoryMib: z.number() });

/** Answer of `GET /api/v1/host` (platform admins): this host's capacity and what its VMs use. */
export const hostCapacitySchema = z.object({
  /** The machine: logical CPUs and memory. */
  host: resourcesSchema,
  /** What may be handed out to VMs (host × overcommit). */
  allocatable: resourcesSchema,
  /** What VMs holding host resources (starting, running, paused, stopping) use now. */
  used: resourcesSchema.extend({ vms: z.number() }),
  /** Every VM of every tenant, counted by state. */
  vmsByState: z.record(vmStateSchema, z.number()),
  /** The engine's driver (e.g. `qemu`) and its version. */
  driver: z.string(),
  driverVersion: z.string(),
  /**
   * Facts the driver names; the QEMU driver: `accel` (`kvm` or `tcg`), `accelReason` (configured,
   * the KVM probe's outcome, or that KVM failed a guest) and `qemuVersion`.
   */
  details: z.record(z.string(), z.string()),
  /** Why the engine cannot run VMs, when it cannot. */
  engineError: z.string().optional(),
});

/** Answer of `GET /api/v1/host`. */
export type HostCapacity = z.infer<typeof hostCapacitySchema>;
