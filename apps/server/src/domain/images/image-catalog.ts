import type { DriverInfo } from '@labvisor/engine';
import type { Image } from '@labvisor/shared';
import type { Knex } from 'knex';
import { type ImageRow, toImage } from '../../db/queries/images.js';
import { AppError } from '../../errors.js';
import type { Actor } from '../auth/access.js';
import { runnableImageKinds } from './runnable-images.js';

/**
 * The images an actor can see (global ones and those of their tenants), with their VM counts; the
 * list holds only those this host's engine runs (no container image on a QEMU host).
 */
export class ImageCatalog {
  constructor(
    private readonly knex: Knex,
    private readonly engine: { info(): DriverInfo },
  ) {}

  async list(actor: Actor): Promise<Image[]> {
    const rows = await this.#visible(actor)
      .whereIn('kind', runnableImageKinds(this.engine.info()))
      .orderBy('name');
    const counts = await this.#countVms(
      actor,
      rows.map((row) => row.id),
    );
    return rows.map((row) => toImage(row, counts.get(row.id) ?? 0));
  }

  /** The image, when the actor can see it; NOT_FOUND otherwise. */
  async row(actor: Actor, imageId: string): Promise<ImageRow> {
    const image = await this.#visible(actor).where({ id: imageId }).first();
    if (!image) throw new AppError('NOT_FOUND', 'No such image.');
    return image;
  }

  async get(actor: Actor, imageId: string): Promise<Image> {
    const image = await this.row(actor, imageId);
    const counts = await this.#countVms(actor, [image.id]);
    return toImage(image, counts.get(image.id) ?? 0);
  }

  #visible(actor: Actor): Knex.QueryBuilder<ImageRow, ImageRow[]> {
    const query = this.knex<ImageRow>('images');
    if (actor.user.is_platform_admin) return query;
    return query.where((q) =>
      q.whereNull('tenant_id').orWhereIn('tenant_id', [...actor.roles.keys()]),
    );
  }

  /** How many VMs in the tenants the actor can see were made from each image. */
  async #countVms(actor: Actor, imageIds: string[]): Promise<Map<string, number>> {
    const query = this.knex('vms')
      .whereIn('image_id', imageIds)
      .whereNull('pool_id')
      .groupBy('image_id');
    if (!actor.user.is_platform_admin) query.whereIn('tenant_id', [...actor.roles.keys()]);
    const rows = await query.select<{ image_id: string; count: string | number }[]>(
      'image_id',
      this.knex.raw('count(*) as count'),
    );
    return new Map(rows.map((row) => [row.image_id, Number(row.count)]));
  }
}
