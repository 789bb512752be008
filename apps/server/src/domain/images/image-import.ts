import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  addToImageStore,
  type Engine,
  inspectImage,
  removeFromImageStore,
  storedImagePath,
} from '@labvisor/engine';
import type { UploadImageQuery } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import type { ImageRow } from '../../db/queries/images.js';
import { findTenantById } from '../../db/queries/tenants.js';
import type { VmRow } from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import { type Actor, requirePlatformAdmin, requireRole, tenantNotFound } from '../auth/access.js';
import { refuseOverTenantImages } from '../quota/admission.js';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
/** Resources a VM gets from an uploaded image unless the upload says otherwise. */
const DEFAULT_VCPUS = 1;
const DEFAULT_MEMORY_MIB = 512;
/** The blank disk a VM booting an installer ISO gets by default. */
const DEFAULT_ISO_DISK_GIB = 8;
/**
 * A temporary upload file untouched this long belongs to no upload under way (its server was
 * stopped mid-upload): the next upload removes it.
 */
const STALE_UPLOAD_MS = 60 * 60 * 1000;
/** How many VM names a refused delete lists. */
const NAMED_VMS_IN_CONFLICT = 3;

/** Largest image upload by default (20 GiB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 20 * GIB;
/** Largest virtual disk of an uploaded image by default: the largest VM disk (1 TiB). */
export const DEFAULT_MAX_VIRTUAL_BYTES = 1024 * GIB;

/** Where uploads go and how big they may be. */
export interface ImageImportSettings {
  /** The content-addressed image store; uploads are received in its `.uploads` folder. */
  imagesDir: string;
  /** Largest upload accepted, in bytes. */
  maxUploadBytes: number;
  /** Largest virtual disk size an uploaded image may have, in bytes. */
  maxVirtualBytes: number;
}

/** Settings with the default limits, for a store at `imagesDir`. */
export function defaultImageImportSettings(imagesDir: string): ImageImportSettings {
  return {
    imagesDir,
    maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES,
    maxVirtualBytes: DEFAULT_MAX_VIRTUAL_BYTES,
  };
}

/** Who uploads and from where. */
interface UploadContext {
  actor: Actor;
  query: UploadImageQuery;
  /** The declared body length, when the client sent one. */
  contentLength: number | undefined;
  ip: string | undefined;
}

/** A received upload in the temporary folder. */
interface ReceivedFile {
  file: string;
  sha256: string;
  sizeBytes: number;
}

/** What publishing needs of the engine: room on its disk, and a stopped lab's disk written out. */
export type LabDisks = Pick<Engine, 'assertDiskRoom' | 'exportDisk'>;

/**
 * Imports images uploaded through the API (qcow2, raw or ISO) and labs' disks published as class
 * templates into the content-addressed store, and deletes images nobody uses. An upload is streamed to a temporary file while its checksum is
 * computed, checked by qemu-img, then moved into the store; any failure leaves neither a file nor a row.
 */
export class ImageImport {
  readonly #knex: Knex;
  readonly #settings: ImageImportSettings;
  readonly #disks: LabDisks;

  constructor(knex: Knex, settings: ImageImportSettings, disks: LabDisks) {
    this.#knex = knex;
    this.#settings = settings;
    this.#disks = disks;
  }

  /** The folder uploads are received in, on the store's file system so a move is a rename. */
  get uploadsDir(): string {
    return path.join(this.#settings.imagesDir, '.uploads');
  }

  /**
   * Uploads an image from a request body. Platform admins upload global images or a tenant's; a
   * tenant admin only their tenant's. Everything that can be checked before reading the body is.
   */
  async upload(context: UploadContext, body: Readable): Promise<ImageRow> {
    const { actor, query } = context;
    if (query.tenantId) {
      requireRole(actor, query.tenantId, 'admin');
      // Platform admins hold every role, even in a tenant that does not exist.
      if (!(await findTenantById(this.#knex, query.tenantId))) throw tenantNotFound();
    } else {
      requirePlatformAdmin(actor);
    }
    await this.#refuseTakenName(query.name, query.tenantId);
    if (
      context.contentLength !== undefined &&
      context.contentLength > this.#settings.maxUploadBytes
    ) {
      throw this.#tooLarge();
    }
    // A tenant's images count in its disk quota: a declared size it cannot take is refused before
    // a byte is read (the exact check is made again when the image is stored).
    if (query.tenantId) {
      await refuseOverTenantImages(this.#knex, query.tenantId, context.contentLength ?? 0, {
        forUpdate: false,
      });
    }
    await this.#assertRoomFor(context.contentLength);
    const received = await this.#receive(body);
    try {
      const inspected = await inspectImage(received.file, query.format, this.#settings);
      const minimumDiskGib = Math.max(1, Math.ceil(inspected.virtualSizeBytes / GIB));
      const defaultDiskGib =
        query.defaultDiskGib ?? (query.format === 'iso' ? DEFAULT_ISO_DISK_GIB : minimumDiskGib);
      if (query.format !== 'iso' && defaultDiskGib < minimumDiskGib) {
        throw new AppError(
          'VALIDATION',
          `defaultDiskGib must be at least ${minimumDiskGib}: the image's virtual disk is that large.`,
          { field: 'defaultDiskGib', minimumDiskGib },
        );
      }
      return await this.#store(received, `image.${query.format}`, {
        actor,
        ip: context.ip,
        action: 'image.upload',
        row: {
          tenant_id: query.tenantId ?? null,
          name: query.name,
          kind: query.format === 'iso' ? 'iso' : 'disk',
          format: query.format,
          default_vcpus: query.defaultVcpus ?? DEFAULT_VCPUS,
          default_memory_mib: query.defaultMemoryMib ?? DEFAULT_MEMORY_MIB,
          default_disk_gib: defaultDiskGib,
        },
      });
    } finally {
      await fs.rm(received.file, { force: true });
    }
  }

  /**
   * Publishes a stopped lab's disk as a class template: a new image of the lab's tenant
   * (instructors and admins), flattened onto the lab's image, with that image's boot (kernel,
   * guest agent) and the lab's size as its defaults. The engine writes the disk to a temporary
   * file, which is hashed and moved into the store; any failure leaves neither a file nor a row.
   */
  async publish(actor: Actor, vm: VmRow, name: string, ip: string | undefined): Promise<ImageRow> {
    requireRole(actor, vm.tenant_id, 'instructor');
    const source = (await this.#knex<ImageRow>('images').where({ id: vm.image_id }).first())!;
    if (source.kind === 'container') {
      throw new AppError(
        'INVALID_STATE',
        `VM "${vm.name}" runs in a container, whose disk cannot be published here.`,
      );
    }
    if (vm.state !== 'stopped') {
      throw new AppError(
        'INVALID_STATE',
        `Stop VM "${vm.name}" before publishing it: its disk must be at rest (it is ${vm.state}).`,
        { state: vm.state },
      );
    }
    await this.#refuseTakenName(name, vm.tenant_id);
    await refuseOverTenantImages(this.#knex, vm.tenant_id, 0, { forUpdate: false });
    const mostBytes = Number(source.size_bytes) + Number(vm.disk_bytes);
    await this.#disks.assertDiskRoom(`publish VM "${vm.name}"`, Math.ceil(mostBytes / MIB));
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const file = path.join(this.uploadsDir, `${randomUUID()}.part`);
    try {
      await this.#disks.exportDisk(vm.id, file);
      const published: ReceivedFile = {
        file,
        sha256: await sha256Of(file),
        sizeBytes: (await fs.stat(file)).size,
      };
      return await this.#store(published, 'image.qcow2', {
        actor,
        ip,
        action: 'image.publish',
        row: {
          tenant_id: vm.tenant_id,
          name,
          // An installed ISO's disk boots by itself: its template is a disk image.
          kind: source.kind === 'iso' ? 'disk' : source.kind,
          format: 'qcow2',
          kernel_path: source.kernel_path,
          initrd_path: source.initrd_path,
          cmdline: source.cmdline,
          guest_agent: source.guest_agent,
          default_vcpus: vm.vcpus,
          default_memory_mib: vm.memory_mib,
          default_disk_gib: vm.disk_gib,
        },
        details: { vmId: vm.id, fromImage: source.name },
      });
    } finally {
      await fs.rm(file, { force: true });
    }
  }

  /**
   * Deletes an image, only while no VM is made from it; its file leaves the store when no other
   * image uses it. Platform admins delete any image, tenant admins their tenant's.
   */
  async delete(actor: Actor, image: ImageRow, ip: string | undefined): Promise<void> {
    if (image.tenant_id) requireRole(actor, image.tenant_id, 'admin');
    else requirePlatformAdmin(actor);
    await this.#knex.transaction(async (trx) => {
      await lockContent(trx, image.sha256);
      const users = await trx('vms')
        .where({ image_id: image.id })
        .whereNull('pool_id')
        .orderBy('name')
        .pluck('name');
      if (users.length > 0) throw inUse(image, users);
      if (await trx('pools').where({ image_id: image.id }).first('id')) {
        throw new AppError(
          'CONFLICT',
          `Image "${image.name}" fills a warm pool; empty that pool first.`,
          { image: image.name },
        );
      }
      try {
        await trx('images').where({ id: image.id }).delete();
      } catch (error) {
        // A VM made from it in the meantime.
        if (isForeignKeyViolation(error)) throw inUse(image, []);
        throw error;
      }
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId: image.tenant_id,
        action: 'image.delete',
        targetType: 'image',
        targetId: image.id,
        ip,
        details: { name: image.name, sha256: image.sha256 },
      });
    });
    // Only once the row is gone for good: a failed commit keeps both the row and its files.
    await this.#removeUnusedFiles(image.sha256, [image.path, image.kernel_path, image.initrd_path]);
  }

  /**
   * Removes stored files that no image row uses, under the content's lock, so a file is never
   * removed under an upload of the same bytes that is being inserted.
   */
  async #removeUnusedFiles(sha256: string, files: Array<string | null>): Promise<void> {
    await this.#knex.transaction(async (trx) => {
      await lockContent(trx, sha256);
      for (const file of files) {
        if (file && !(await isStoredFileUsed(trx, file))) await removeFromImageStore(file);
      }
    });
  }

  async #refuseTakenName(name: string, tenantId: string | undefined): Promise<void> {
    const taken = await this.#knex('images')
      .where({ name })
      .andWhere((q) => (tenantId ? q.where({ tenant_id: tenantId }) : q.whereNull('tenant_id')))
      .first('id');
    if (taken) throw nameTaken(name);
  }

  /** Streams the body to a temporary file, hashing and counting; removes the file on any failure. */
  async #receive(body: Readable): Promise<ReceivedFile> {
    await fs.mkdir(this.uploadsDir, { recursive: true });
    await this.#removeStaleUploads();
    const file = path.join(this.uploadsDir, `${randomUUID()}.part`);
    const hash = createHash('sha256');
    const maxBytes = this.#settings.maxUploadBytes;
    let sizeBytes = 0;
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        sizeBytes += chunk.length;
        if (sizeBytes > maxBytes) return done(this.#tooLarge());
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The body is piped, not put in the pipeline: over the limit it must stay open for the 413.
    const interrupted = () =>
      meter.destroy(new AppError('VALIDATION', 'The upload was interrupted before it finished.'));
    body.once('error', interrupted);
    body.once('close', () => {
      if (!(body as { complete?: boolean }).complete) interrupted();
    });
    body.pipe(meter);
    try {
      await pipeline(meter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    } catch (error) {
      body.unpipe(meter);
      await fs.rm(file, { force: true });
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw diskFull(sizeBytes);
      throw error;
    } finally {
      body.off('error', interrupted);
    }
    if (sizeBytes === 0) {
      await fs.rm(file, { force: true });
      throw new AppError('VALIDATION', 'The upload is empty: send the image file as the body.');
    }
    return { file, sha256: hash.digest('hex'), sizeBytes };
  }

  /** Refuses an upload whose declared size the store's file system has no room for. */
  async #assertRoomFor(contentLength: number | undefined): Promise<void> {
    if (contentLength === undefined) return;
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const stats = await fs.statfs(this.uploadsDir);
    const freeBytes = stats.bavail * stats.bsize;
    if (contentLength <= freeBytes) return;
    throw new AppError(
      'QUOTA_EXCEEDED',
      `The host's disk has ${Math.floor(freeBytes / MIB)} MiB free and this upload is ${Math.ceil(contentLength / MIB)} MiB; an admin frees space first.`,
      {
        resource: 'hostDiskMib',
        limit: Math.floor(freeBytes / MIB),
        used: 0,
        requested: Math.ceil(contentLength / MIB),
      },
    );
  }

  async #removeStaleUploads(): Promise<void> {
    const staleBefore = Date.now() - STALE_UPLOAD_MS;
    for (const name of await fs.readdir(this.uploadsDir)) {
      const file = path.join(this.uploadsDir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat && stat.mtimeMs < staleBefore) await fs.rm(file, { force: true });
    }
  }

  /**
   * Moves a checked file into the store (as `fileName`) and inserts its image row, audited, under
   * the content's lock — a tenant's image only if its quota takes it, under the quota's lock; on
   * failure the stored file stays only if another image uses it.
   */
  async #store(
    received: ReceivedFile,
    fileName: string,
    how: {
      actor: Actor;
      ip: string | undefined;
      action: 'image.upload' | 'image.publish';
      row: Partial<ImageRow> & Pick<ImageRow, 'tenant_id' | 'name' | 'kind' | 'format'>;
      details?: Record<string, unknown>;
    },
  ): Promise<ImageRow> {
    const target = storedImagePath(this.#settings.imagesDir, received.sha256, fileName);
    try {
      return await this.#knex.transaction(async (trx) => {
        if (how.row.tenant_id) {
          await refuseOverTenantImages(trx, how.row.tenant_id, received.sizeBytes, {
            forUpdate: true,
          });
        }
        await lockContent(trx, received.sha256);
        await addToImageStore(received.file, target, 'move');
        const [row] = await trx<ImageRow>('images')
          .insert({
            ...how.row,
            path: target,
            size_bytes: received.sizeBytes,
            sha256: received.sha256,
          })
          .returning('*');
        await recordAudit(trx, {
          actorId: how.actor.user.id,
          tenantId: how.row.tenant_id,
          action: how.action,
          targetType: 'image',
          targetId: row!.id,
          ip: how.ip,
          details: {
            name: how.row.name,
            format: how.row.format,
            sizeBytes: received.sizeBytes,
            sha256: received.sha256,
            ...how.details,
          },
        });
        return row!;
      });
    } catch (error) {
      // Nothing was inserted: the stored file stays only if another image uses it.
      await this.#removeUnusedFiles(received.sha256, [target]);
      if (isUniqueViolation(error)) throw nameTaken(how.row.name);
      throw error;
    }
  }

  #tooLarge(): AppError {
    const limit = this.#settings.maxUploadBytes;
    return new AppError(
      'PAYLOAD_TOO_LARGE',
      `The image is larger than the upload limit of ${limit} bytes (${(limit / GIB).toFixed(1)} GiB).`,
      { maxUploadBytes: limit },
    );
  }
}

/**
 * Serializes store changes of one content (a move in and an insert, or a delete and a removal), so
 * a file is never removed under an image being added, across every server sharing the database.
 */
async function lockContent(trx: Knex.Transaction, sha256: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`image-store:${sha256}`]);
}

/** The SHA-256 of a file's bytes, read as a stream. */
async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

async function isStoredFileUsed(knex: Knex, file: string): Promise<boolean> {
  const row = await knex('images')
    .where({ path: file })
    .orWhere({ kernel_path: file })
    .orWhere({ initrd_path: file })
    .first('id');
  return row !== undefined;
}

function nameTaken(name: string): AppError {
  return new AppError('CONFLICT', `An image named "${name}" already exists here.`);
}

function inUse(image: ImageRow, vmNames: string[]): AppError {
  const named = vmNames.slice(0, NAMED_VMS_IN_CONFLICT).map((name) => `"${name}"`);
  if (vmNames.length > named.length) named.push(`${vmNames.length - named.length} more`);
  const which =
    vmNames.length === 0
      ? 'a VM'
      : vmNames.length === 1
        ? `VM ${named[0]}`
        : `${vmNames.length} VMs (${named.join(', ')})`;
  return new AppError(
    'CONFLICT',
    `Image "${image.name}" is used by ${which}; delete ${vmNames.length > 1 ? 'them' : 'it'} first.`,
    { vmCount: vmNames.length },
  );
}

/** The refusal of an upload that filled the host's disk on its way in (nothing of it is kept). */
function diskFull(receivedBytes: number): AppError {
  return new AppError(
    'QUOTA_EXCEEDED',
    `The host's disk filled up after ${Math.floor(receivedBytes / MIB)} MiB of the upload; nothing of it was kept. An admin frees space first.`,
    { resource: 'hostDiskMib', limit: Math.floor(receivedBytes / MIB), used: 0, requested: 0 },
  );
}
