'use client';

import type { Pool, PoolSetting } from '@labvisor/shared';
import { useParams } from 'next/navigation';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { PoolForm } from '@/components/pool-form';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad, usePolling } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

/** How often the page looks again while a pool is being filled. */
const FILLING_POLL_MS = 3000;

/** A pool as set, from what the API answers. */
const settingOf = (pool: Pool): PoolSetting => ({
  imageId: pool.imageId,
  vcpus: pool.vcpus,
  memoryMib: pool.memoryMib,
  diskGib: pool.diskGib,
  count: pool.count,
  classHoursOnly: pool.classHoursOnly,
});

const sameSize = (a: PoolSetting, b: PoolSetting) =>
  a.imageId === b.imageId &&
  a.vcpus === b.vcpus &&
  a.memoryMib === b.memoryMib &&
  a.diskGib === b.diskGib;

/**
 * A tenant's warm pools (instructors and admins): paused clones kept ready per image and size, so
 * a student's launch of that image and size starts at once. Shows what each pool holds and why it
 * holds less; sets, changes and empties pools.
 */
export default function TenantPoolsPage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  // Pools first: the API refuses them to plain members and hides other tenants.
  const loaded = useApiLoad(me && tenantId, async () => {
    const pools = await api.getPools(tenantId);
    const [tenant, images] = await Promise.all([api.getTenant(tenantId), api.listImages()]);
    return { pools, tenant, images: images.filter((image) => image.guestAgent) };
  });
  const actions = usePageActions(loaded.reload);
  const filling = loaded.data?.pools.some(
    (pool) => pool.ready < pool.count && pool.shortBecause === null,
  );
  const { reload } = loaded;
  usePolling(filling ?? false, reload, FILLING_POLL_MS);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const { data } = loaded;
  const save = (setting: PoolSetting, done: string) =>
    actions.run(async () => {
      const others = (data?.pools ?? []).map(settingOf).filter((s) => !sameSize(s, setting));
      await api.putPools(
        tenantId,
        [...others, setting].filter((s) => s.count > 0),
      );
    }, done);

  return (
    <SectionPage
      me={me}
      section={tenantSection(me, tenantId)}
      sectionLabel="Tenant"
      title={data ? `${data.tenant.name}: warm pools` : 'Warm pools'}
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      <section className="card" aria-labelledby="pools-title">
        <h2 id="pools-title">Warm pools</h2>
        <p className="muted">
          A warm pool keeps labs of one image and size booted and paused, so a launch of that image
          and size starts at once, with the student’s own name and login. Pooled labs count in the
          tenant’s quota (not in any student’s) until taken; the pool then refills.
        </p>
        {!data ? (
          !loaded.error && <p className="muted">Loading pools…</p>
        ) : data.pools.length === 0 ? (
          <p className="empty">No warm pools: every launch boots or starts from a template.</p>
        ) : (
          <PoolTable
            pools={data.pools}
            onEmpty={(pool) =>
              save({ ...settingOf(pool), count: 0 }, `Emptying the pool of ${pool.imageName}.`)
            }
          />
        )}
      </section>
      {data && (
        <section className="card" aria-labelledby="pool-form-title">
          <h2 id="pool-form-title">Keep labs ready</h2>
          <PoolForm
            images={data.images}
            onSave={(setting, imageName) =>
              save(
                setting,
                `Keeping ${setting.count} ${imageName} lab${setting.count === 1 ? '' : 's'} ready.`,
              )
            }
          />
        </section>
      )}
    </SectionPage>
  );
}

/** Each pool: its image and size, how many it keeps and holds now, and why it holds fewer. */
function PoolTable({ pools, onEmpty }: { pools: Pool[]; onEmpty: (pool: Pool) => void }) {
  return (
    <table className="table">
      <thead>
        <tr>
          <th scope="col">Image</th>
          <th scope="col">Size</th>
          <th scope="col">Kept ready</th>
          <th scope="col">Ready now</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {pools.map((pool) => (
          <tr key={`${pool.imageId}-${pool.vcpus}-${pool.memoryMib}-${pool.diskGib}`}>
            <td>{pool.imageName}</td>
            <td>
              {pool.vcpus} vCPU · {pool.memoryMib} MiB · {pool.diskGib} GiB
            </td>
            <td>
              {pool.count === 0 ? 'none (emptying)' : pool.count}
              {pool.classHoursOnly && pool.count > 0 && ' during class hours'}
            </td>
            <td>
              {pool.ready}
              {pool.starting > 0 && ` (+${pool.starting} starting)`}
              {pool.shortBecause && <p className="muted small">{pool.shortBecause}</p>}
            </td>
            <td>
              {pool.count > 0 && (
                <button className="button" type="button" onClick={() => onEmpty(pool)}>
                  Empty pool of {pool.imageName}
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
