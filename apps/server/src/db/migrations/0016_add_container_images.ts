import type { Knex } from 'knex';

/**
 * Container images (the Incus driver's): kind `container`, in Incus's unified tarball format
 * (`metadata.yaml` and `rootfs/` in one tar.gz, whose sha256 is its Incus fingerprint).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table images
      drop constraint images_kind_check,
      add constraint images_kind_check check (kind in ('kernel', 'disk', 'iso', 'container')),
      drop constraint images_format_check,
      add constraint images_format_check check (format in ('qcow2', 'raw', 'iso', 'incus-unified'))
  `);
}
