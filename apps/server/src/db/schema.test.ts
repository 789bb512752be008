import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from '../../test/support/databases.js';
import type { Database } from './database.js';
import { insertTenant, upsertMembership } from './queries/tenants.js';
import { insertUser } from './queries/users.js';

const SHA256 = 'a'.repeat(64);

describe.each(TEST_DATABASES)('schema constraints on $name', (kind) => {
  let database: Database;
  let tenantId: string;
  let otherTenantId: string;
  let userId: string;
  let imageId: string;

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
    tenantId = (await insertTenant(database.knex, { name: 'Class A' })).id;
    otherTenantId = (await insertTenant(database.knex, { name: 'Class B' })).id;
    userId = (
      await insertUser(database.knex, {
        email: 'Ada@Example.test',
        name: 'Ada',
        passwordHash: null,
      })
    ).id;
    const [image] = await database
      .knex('images')
      .insert({
        name: 'tiny',
        kind: 'disk',
        format: 'qcow2',
        path: '/images/tiny.qcow2',
        size_bytes: 1,
        sha256: SHA256,
      })
      .returning('id');
    imageId = image.id;
  });
  afterAll(async () => database?.close());

  const vm = (overrides: Record<string, unknown> = {}) => ({
    tenant_id: tenantId,
    owner_id: userId,
    image_id: imageId,
    name: 'lab-1',
    vcpus: 1,
    memory_mib: 256,
    disk_gib: 1,
    ...overrides,
  });

  it.skipIf(kind.skipReason)('stores emails lowercased and unique', async () => {
    const row = await database.knex('users').where({ id: userId }).first();
    expect(row.email).toBe('ada@example.test');
    await expect(
      insertUser(database.knex, { email: 'ADA@example.test', name: 'Twin', passwordHash: null }),
    ).rejects.toThrow(/unique|duplicate/i);
  });

  it.skipIf(kind.skipReason)(
    'gives each tenant a quota row and removes it with the tenant',
    async () => {
      const temporary = await insertTenant(database.knex, { name: 'Temporary' });
      expect(
        await database.knex('quotas').where({ tenant_id: temporary.id }).first(),
      ).toMatchObject({ running_vms: 5 });
      await database.knex('tenants').where({ id: temporary.id }).delete();
      expect(
        await database.knex('quotas').where({ tenant_id: temporary.id }).first(),
      ).toBeUndefined();
      await expect(
        database.knex('quotas').where({ tenant_id: tenantId }).update({ vcpus: -1 }),
      ).rejects.toThrow(/check/i);
    },
  );

  it.skipIf(kind.skipReason)('accepts only the contract roles', async () => {
    await upsertMembership(database.knex, { tenantId, userId, role: 'member' });
    await upsertMembership(database.knex, { tenantId, userId, role: 'instructor' });
    const rows = await database.knex('memberships').where({ user_id: userId });
    expect(rows).toEqual([expect.objectContaining({ role: 'instructor' })]);
    await expect(
      database
        .knex('memberships')
        .insert({ tenant_id: otherTenantId, user_id: userId, role: 'owner' }),
    ).rejects.toThrow(/check/i);
  });

  it.skipIf(kind.skipReason)(
    'keeps VM names unique per tenant and states within the contract',
    async () => {
      await database.knex('vms').insert(vm());
      await expect(database.knex('vms').insert(vm())).rejects.toThrow(/unique|duplicate/i);
      await database.knex('vms').insert(vm({ tenant_id: otherTenantId }));
      await expect(
        database.knex('vms').insert(vm({ name: 'lab-2', state: 'exploded' })),
      ).rejects.toThrow(/check/i);
      await expect(database.knex('vms').insert(vm({ name: 'lab-3', vcpus: 0 }))).rejects.toThrow(
        /check/i,
      );
    },
  );

  it.skipIf(kind.skipReason)(
    'keeps image names unique per tenant, global images included',
    async () => {
      const image = {
        name: 'tiny',
        kind: 'disk',
        format: 'qcow2',
        path: '/x',
        size_bytes: 1,
        sha256: SHA256,
      };
      await expect(database.knex('images').insert(image)).rejects.toThrow(/unique|duplicate/i);
      await database.knex('images').insert({ ...image, tenant_id: tenantId });
      await expect(
        database.knex('images').insert({ ...image, tenant_id: tenantId }),
      ).rejects.toThrow(/unique|duplicate/i);
      await expect(
        database.knex('images').insert({ ...image, name: 'k', kind: 'kernel' }),
      ).rejects.toThrow(/check/i);
    },
  );

  it.skipIf(kind.skipReason)(
    'refuses to delete an image a VM uses, and cascades snapshots with their VM',
    async () => {
      await expect(database.knex('images').where({ id: imageId }).delete()).rejects.toThrow(
        /foreign key/i,
      );
      const [created] = await database
        .knex('vms')
        .insert(vm({ name: 'snapshotted' }))
        .returning('id');
      await database.knex('snapshots').insert({ vm_id: created.id, name: 'before' });
      await expect(
        database.knex('snapshots').insert({ vm_id: created.id, name: 'before' }),
      ).rejects.toThrow(/unique|duplicate/i);
      await database.knex('vms').where({ id: created.id }).delete();
      expect(await database.knex('snapshots').where({ vm_id: created.id })).toEqual([]);
    },
  );
});
