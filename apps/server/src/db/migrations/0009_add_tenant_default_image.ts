import type { Knex } from 'knex';

/** The image a tenant's launch form offers first (a class's lab image); null: the first image. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'alter table tenants add column default_image_id uuid references images(id) on delete set null',
  );
}
