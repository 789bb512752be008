import { z } from 'zod';
import { nameSchema } from './common.js';

/** Every state a VM can be in. */
export const VM_STATES = [
  'stopped',
  'starting',
  'running',
  'paused',
  'suspended',
  'stopping',
  'crashed',
  'error',
  // Its host is out of reach (an Incus cluster member offline); it comes back when the host does.
  'unavailable',
] as const;

/** A VM's state. */
export const vmStateSchema = z.enum(VM_STATES);

/** A VM's state. */
export type VmState = z.infer<typeof vmStateSchema>;

/** A VM name: letters, digits, dots, dashes and underscores, starting with a letter or digit. */
export const vmNameSchema = nameSchema.regex(
  /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  'must start with a letter or digit and use only letters, digits, ".", "-" and "_"',
);

/**
 * How a VM's guest came to run at its last start: booted (`cold`), cloned from a booted template
 * of its image (`template`, in about a second), continued from its suspended memory
 * (`saved-state`) or from a snapshot.
 */
export const BOOT_PATHS = ['cold', 'template', 'pool', 'saved-state', 'snapshot'] as const;

/** How a VM's guest came to run at its last start. */
export type BootPath = (typeof BOOT_PATHS)[number];

/**
 * How a VM reaches the network: `none` (nothing), `internet` (outbound only, to public addresses;
 * never the host, private ranges or metadata services) or `class` (one private segment shared by
 * its tenant's class VMs, with internet egress when the tenant allows it).
 */
export const NETWORK_MODES = ['none', 'internet', 'class'] as const;

/** How a VM reaches the network. */
export const networkModeSchema = z.enum(NETWORK_MODES);

/** How a VM reaches the network. */
export type NetworkMode = z.infer<typeof networkModeSchema>;

/** A virtual machine. */
export const vmSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  ownerId: z.string(),
  imageId: z.string(),
  name: z.string(),
  vcpus: z.number(),
  memoryMib: z.number(),
  diskGib: z.number(),
  state: vmStateSchema,
  stateReason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  lastActivityAt: z.string().nullable(),
  /** The snapshot the VM's disk last came from or was last saved as: its place in the timeline. */
  currentSnapshotId: z.string().nullable(),
  /** How its guest came to run at its last start; null before its first. */
  bootPath: z.enum(BOOT_PATHS).nullable(),
  /** How it reaches the network. */
  network: networkModeSchema,
  /** Its address on its network (`internet`, `class`) once it has started with it; else null. */
  networkAddress: z.string().nullable(),
  /**
   * What it is: a virtual machine, or a system container (a container image on an Incus cluster:
   * a terminal but no desktop, and no suspend).
   */
  instanceType: z.enum(['virtual-machine', 'container']),
});

/** A virtual machine. */
export type Vm = z.infer<typeof vmSchema>;

/** Body of `POST /api/v1/vms`. */
export const createVmRequestSchema = z.strictObject({
  tenantId: z.uuid(),
  name: vmNameSchema,
  imageId: z.uuid(),
  vcpus: z.int().min(1).max(16),
  memoryMib: z.int().min(64).max(65_536),
  diskGib: z.int().min(1).max(1024),
  /** Absent: the tenant's default network. */
  network: networkModeSchema.optional(),
});

/** Body of `POST /api/v1/vms`. */
export type CreateVmRequest = z.infer<typeof createVmRequestSchema>;

/** Body of `POST /api/v1/vms/:vmId/ports`: a TCP port of the running guest to open in the browser. */
export const openVmPortRequestSchema = z.strictObject({ port: z.int().min(1).max(65_535) });

/**
 * Answer of `POST /api/v1/vms/:vmId/ports`: a link (valid a minute) that opens the port on its own
 * host name (`p<port>-<vmId>.<ports domain>`); the VM's owner may use it fully, its tenant's
 * instructors and admins read-only (GET and HEAD, no WebSocket).
 */
export const openVmPortResponseSchema = z.object({
  url: z.string(),
  access: z.enum(['full', 'read-only']),
  expiresAt: z.string(),
});

/** Answer of `POST /api/v1/vms/:vmId/ports`. */
export type OpenVmPortResponse = z.infer<typeof openVmPortResponseSchema>;

/** Body of `PATCH /api/v1/vms/:vmId`: its network, while it is stopped. */
export const updateVmRequestSchema = z.strictObject({ network: networkModeSchema });

/** Body of `PATCH /api/v1/vms/:vmId`. */
export type UpdateVmRequest = z.infer<typeof updateVmRequestSchema>;

/** Query of `GET /api/v1/vms`: `?tenantId=` lists one tenant's VMs (of those the user can see). */
export const listVmsQuerySchema = z.strictObject({ tenantId: z.uuid().optional() });

/** Query of `POST /api/v1/vms`: `?dryRun=1` answers whether it would be admitted, admitting nothing. */
export const createVmQuerySchema = z.strictObject({
  dryRun: z.enum(['0', '1', 'true', 'false']).optional(),
});

/**
 * The `Idempotency-Key` header of `POST /api/v1/vms`: 1 to 255 visible ASCII characters (a UUID
 * serves). The same user's same key and body answer the VM created first, for 24 hours.
 */
export const idempotencyKeyHeaderSchema = z.strictObject({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters')
    .optional(),
});
