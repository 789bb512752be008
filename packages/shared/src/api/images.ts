import { z } from 'zod';
import { nameSchema } from './common.js';

/**
 * How a VM boots from an image: direct kernel boot, firmware from a disk, an installer ISO, or a
 * system container (hosts whose engine runs containers: the Incus driver).
 */
export const imageKindSchema = z.enum(['kernel', 'disk', 'iso', 'container']);

/** An image kind. */
export type ImageKind = z.infer<typeof imageKindSchema>;

/** The file format an image can be uploaded in. */
export const uploadImageFormatSchema = z.enum(['qcow2', 'raw', 'iso']);

/** A file format an image can be uploaded in. */
export type ImageFormat = z.infer<typeof uploadImageFormatSchema>;

/** The file format of an image: an upload's, or Incus's unified tarball (built container images). */
export const imageFormatSchema = z.enum([...uploadImageFormatSchema.options, 'incus-unified']);

/** A guest image a VM can be created from. */
export const imageSchema = z.object({
  id: z.string(),
  /** The tenant the image belongs to; null for a global image every tenant can use. */
  tenantId: z.string().nullable(),
  name: z.string(),
  kind: imageKindSchema,
  format: imageFormatSchema,
  sizeBytes: z.number(),
  sha256: z.string(),
  defaultVcpus: z.number(),
  defaultMemoryMib: z.number(),
  defaultDiskGib: z.number(),
  /**
   * Its guest runs the Labvisor agent: its VMs can start as clones of a booted template, and it
   * can fill warm pools.
   */
  guestAgent: z.boolean(),
  /** How many VMs, in the tenants the caller can see, were made from the image. */
  vmCount: z.number(),
  createdAt: z.string(),
});

/** A guest image. */
export type Image = z.infer<typeof imageSchema>;

const countFromQuery = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * Query of `POST /api/v1/images` (an upload): the request body is the file's bytes
 * (`Content-Type: application/octet-stream`), described by these parameters. Without `tenantId`
 * the image is global (platform admins only). Resources a VM gets by default from the image; the
 * default disk of a disk image is at least its virtual size.
 */
export const uploadImageQuerySchema = z.strictObject({
  name: nameSchema,
  format: uploadImageFormatSchema,
  tenantId: z.uuid().optional(),
  defaultVcpus: countFromQuery(1, 16).optional(),
  defaultMemoryMib: countFromQuery(64, 65_536).optional(),
  defaultDiskGib: countFromQuery(1, 1024).optional(),
});

/** Query of `POST /api/v1/images` (an upload). */
export type UploadImageQuery = z.infer<typeof uploadImageQuerySchema>;
