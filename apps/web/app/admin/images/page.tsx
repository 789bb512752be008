'use client';

import type { Image, Tenant } from '@labvisor/shared';
import { ConfirmButton } from '@/components/confirm-button';
import { ImageUploadForm } from '@/components/image-upload-form';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { ADMIN_SECTION, SectionPage } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';
import { formatBytes } from '@/lib/format';

const KIND_LABELS: Record<Image['kind'], string> = {
  kernel: 'Kernel and disk',
  disk: 'Disk',
  iso: 'Installer ISO',
  container: 'System container',
};

/** The images VMs are made from: the list with what uses them, an upload form, and Delete. */
export default function AdminImagesPage() {
  const { me, error } = useSession();
  const loaded = useApiLoad(me && 'images', async () => {
    const [images, tenants] = await Promise.all([api.listImages(), api.listTenants()]);
    return { images, tenants };
  });
  const actions = usePageActions(loaded.reload);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;

  const remove = (image: Image) =>
    actions.run(() => api.deleteImage(image.id), `Deleted image ${image.name}.`);

  const { data } = loaded;
  return (
    <SectionPage
      me={me}
      section={ADMIN_SECTION}
      sectionLabel="Admin"
      title="Images"
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      <section className="card" aria-labelledby="images-title">
        <h2 id="images-title">Available images</h2>
        {!data ? (
          !loaded.error && <p className="muted">Loading…</p>
        ) : data.images.length === 0 ? (
          <p className="empty">No images yet. Upload the first one below.</p>
        ) : (
          <ImageTable images={data.images} tenants={data.tenants} onDelete={remove} />
        )}
      </section>
      <section className="card" aria-labelledby="upload-title">
        <h2 id="upload-title">Upload an image</h2>
        <p className="muted">
          A qcow2 or raw disk that boots through the firmware, or an installer ISO (VMs get a blank
          disk beside it). The server checks the file once it has arrived.
        </p>
        <ImageUploadForm
          tenants={data?.tenants ?? []}
          onUploaded={(image) => {
            actions.show(`Uploaded image ${image.name} (${formatBytes(image.sizeBytes)}).`);
            loaded.reload();
          }}
        />
      </section>
    </SectionPage>
  );
}

function ImageTable({
  images,
  tenants,
  onDelete,
}: {
  images: Image[];
  tenants: Tenant[];
  onDelete: (image: Image) => void;
}) {
  const tenantNames = new Map(tenants.map((tenant) => [tenant.id, tenant.name]));
  return (
    <table className="table image-table">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Kind</th>
          <th scope="col">Format</th>
          <th scope="col">Size</th>
          <th scope="col">Available to</th>
          <th scope="col">In use</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {images.map((image) => (
          <tr key={image.id}>
            <td>
              <strong>{image.name}</strong>
              <div className="muted small" title={`SHA-256 ${image.sha256}`}>
                sha256 {image.sha256.slice(0, 12)}…
              </div>
            </td>
            <td>{KIND_LABELS[image.kind]}</td>
            <td>{image.format}</td>
            <td>{formatBytes(image.sizeBytes)}</td>
            <td>
              {image.tenantId === null
                ? 'All tenants'
                : (tenantNames.get(image.tenantId) ?? 'One tenant')}
            </td>
            <td>
              {image.vmCount === 0
                ? 'No'
                : `${image.vmCount} ${image.vmCount === 1 ? 'VM' : 'VMs'}`}
            </td>
            <td className="actions">
              {image.vmCount === 0 && (
                <ConfirmButton
                  label="Delete"
                  ariaLabel={`Delete image ${image.name}`}
                  question={`Delete image ${image.name}?`}
                  confirmLabel="Delete image"
                  danger
                  onConfirm={() => onDelete(image)}
                />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
