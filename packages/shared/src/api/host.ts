import { z } from 'zod';
import { vmStateSchema } from './vms.js';

const resourcesSchema = z.object({ vcpus: z.number(), memoryMib: z.number() });

/** A guest image the server builds in the background (`LABVISOR_BUILD_IMAGES`), as it stands. */
export const imageBuildSchema = z.object({
  /** The recipe, e.g. `debian-lab`. */
  name: z.string(),
  state: z.enum(['waiting', 'building', 'making-template', 'ready', 'failed']),
  /** What the build does now, as its recipe says (e.g. `debootstrap second stage …`). */
  step: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** Why it failed, when it did. */
  error: z.string().nullable(),
});

/** A background image build. */
export type ImageBuild = z.infer<typeof imageBuildSchema>;

/** A member of the cluster of hosts the engine runs VMs on (the Incus driver's). */
export const hostMemberSchema = z.object({
  name: z.string(),
  /** As the cluster says: `Online`, `Offline`, `Evacuated`... */
  status: z.string(),
  /** Why it is in that state, when the cluster says. */
  message: z.string(),
  vcpus: z.number(),
  memoryMib: z.number(),
  /** Labs placed on it. */
  vms: z.number(),
});

/** A member of the cluster of hosts. */
export type HostMember = z.infer<typeof hostMemberSchema>;

/** Body of `POST /api/v1/host/evacuate` and `POST /api/v1/host/restore`. */
export const hostMemberRequestSchema = z.strictObject({ member: z.string().min(1).max(63) });

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
   * the KVM probe's outcome, or that KVM failed a guest), `qemuVersion` and `qemuRunsAs` (the
   * account QEMU runs as).
   */
  details: z.record(z.string(), z.string()),
  /** Why the engine cannot run VMs, when it cannot. */
  engineError: z.string().optional(),
  /** Guest images being built in the background, and how they went. */
  imageBuilds: z.array(imageBuildSchema),
  /** The cluster's members, when the engine runs VMs on a cluster (empty on one host). */
  members: z.array(hostMemberSchema),
});

/** Answer of `GET /api/v1/host`. */
export type HostCapacity = z.infer<typeof hostCapacitySchema>;
