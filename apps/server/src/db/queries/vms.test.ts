import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from '../../../test/support/databases.js';
import type { Database } from '../database.js';
import { insertTenant } from './tenants.js';
import { insertUser } from './users.js';
import { recordVmState, type VmRow } from './vms.js';

describe.each(TEST_DATABASES)('recording VM states on $name', (kind) => {
  let database: Database;
  let tenantId: string;
  let userId: string;
  let imageId: string;

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
    tenantId = (await insertTenant(database.knex, { name: 'Class A' })).id;
    userId = (
      await insertUser(database.knex, {
        email: 'ada@example.test',
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
        sha256: 'a'.repeat(64),
      })
      .returning('id');
    imageId = image.id;
  });
  afterAll(async () => database?.close());

  /** A VM of the member, or with `ownerId` null a warm pool's (a pool of its size is made). */
  const insertVm = async (name: string, ownerId: string | null): Promise<VmRow> => {
    const poolId =
      ownerId === null
        ? (
            await database
              .knex('pools')
              .insert({
                tenant_id: tenantId,
                image_id: imageId,
                vcpus: 2,
                memory_mib: 512,
                disk_gib: 1,
                count: 1,
              })
              .returning('id')
          )[0].id
        : null;
    const [row] = await database
      .knex<VmRow>('vms')
      .insert({
        tenant_id: tenantId,
        owner_id: ownerId,
        pool_id: poolId,
        image_id: imageId,
        name,
        vcpus: 2,
        memory_mib: 512,
        disk_gib: 1,
      })
      .returning('*');
    return row!;
  };
  const intervalsOf = (vmId: string) =>
    database.knex('usage_intervals').where({ vm_id: vmId }).orderBy('started_at');

  it.skipIf(kind.skipReason)(
    'opens the usage interval when a VM starts holding resources and closes it when it stops',
    async () => {
      const vm = await insertVm('lab-1', userId);
      const starting = await recordVmState(database.knex, vm.id, {
        state: 'starting',
        desired: 'running',
      });
      expect(starting).toMatchObject({ id: vm.id, state: 'starting', desired_state: 'running' });
      expect(starting!.started_at).toBeNull();
      expect(await intervalsOf(vm.id)).toEqual([
        expect.objectContaining({ user_id: userId, vcpus: 2, memory_mib: 512, ended_at: null }),
      ]);

      // Running after starting: the same interval goes on; the start time is set once.
      const running = await recordVmState(database.knex, vm.id, {
        state: 'running',
        bootPath: 'cold',
        networkAddress: '10.0.0.5',
      });
      expect(running).toMatchObject({
        state: 'running',
        desired_state: 'running',
        boot_path: 'cold',
        network_address: '10.0.0.5',
        state_reason: null,
      });
      expect(running!.started_at).not.toBeNull();
      const again = await recordVmState(database.knex, vm.id, { state: 'running' });
      expect(again!.started_at).toEqual(running!.started_at);
      expect(again).toMatchObject({ boot_path: 'cold', network_address: '10.0.0.5' });
      expect(await intervalsOf(vm.id)).toHaveLength(1);

      const stopped = await recordVmState(database.knex, vm.id, {
        state: 'error',
        reason: 'QEMU exited',
      });
      expect(stopped).toMatchObject({ state: 'error', state_reason: 'QEMU exited' });
      const [closed] = await intervalsOf(vm.id);
      expect(closed.ended_at).not.toBeNull();
      // A second stopped state closes nothing more and opens nothing.
      await recordVmState(database.knex, vm.id, { state: 'stopped' });
      expect(await intervalsOf(vm.id)).toEqual([closed]);

      await recordVmState(database.knex, vm.id, { state: 'starting' });
      const intervals = await intervalsOf(vm.id);
      expect(intervals).toHaveLength(2);
      expect(intervals[1].ended_at).toBeNull();
    },
  );

  it.skipIf(kind.skipReason)(
    "meters no warm pool's VM (no owner yet), and answers nothing for a VM that is gone",
    async () => {
      const pooled = await insertVm('pooled', null);
      expect(await recordVmState(database.knex, pooled.id, { state: 'running' })).toMatchObject({
        state: 'running',
      });
      expect(await intervalsOf(pooled.id)).toEqual([]);
      expect(
        await recordVmState(database.knex, '00000000-0000-4000-8000-000000000000', {
          state: 'running',
        }),
      ).toBeUndefined();
    },
  );

  it.skipIf(kind.skipReason)('records the states of one VM written at once in order', async () => {
    const vm = await insertVm('raced', userId);
    // Parallel writes on Postgres each wait for the row; every start opens at most one interval.
    await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        recordVmState(database.knex, vm.id, { state: index % 2 === 0 ? 'starting' : 'stopped' }),
      ),
    );
    const open = (await intervalsOf(vm.id)).filter((interval) => interval.ended_at === null);
    const { state } = await database.knex('vms').where({ id: vm.id }).first();
    expect(open).toHaveLength(state === 'starting' ? 1 : 0);
  });
});
