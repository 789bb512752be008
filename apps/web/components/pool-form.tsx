'use client';

import { type Image, MAX_POOL_COUNT, type PoolSetting } from '@labvisor/shared';
import { type FormEvent, useState } from 'react';
import { NumberField } from '@/components/number-field';
import { SizeFields } from '@/components/size-fields';

/**
 * Sets one warm pool: an image that can be cloned, the size its labs get (the image's defaults,
 * which is what a student's launch form offers) and how many to keep ready.
 */
export function PoolForm({
  images,
  onSave,
}: {
  images: Image[];
  onSave: (setting: PoolSetting, imageName: string) => Promise<unknown>;
}) {
  const sizeOf = (image: Image | undefined) => ({
    imageId: image?.id ?? '',
    vcpus: image?.defaultVcpus ?? 1,
    memoryMib: image?.defaultMemoryMib ?? 256,
    diskGib: image?.defaultDiskGib ?? 1,
  });
  const [values, setValues] = useState<PoolSetting>(() => ({
    ...sizeOf(images[0]),
    count: 5,
    classHoursOnly: false,
  }));
  const [busy, setBusy] = useState(false);
  const change = (changed: Partial<PoolSetting>) =>
    setValues((current) => ({ ...current, ...changed }));

  if (images.length === 0) {
    return (
      <p className="empty">
        No image here can fill a pool: its guest must run the Labvisor agent (the built tiny and
        Debian images do).
      </p>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      const image = images.find((candidate) => candidate.id === values.imageId);
      await onSave(values, image?.name ?? 'these');
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-label="Keep labs ready">
      <div className="grid">
        <div className="field">
          <label htmlFor="pool-image">Image</label>
          <select
            id="pool-image"
            value={values.imageId}
            onChange={(e) => change(sizeOf(images.find((image) => image.id === e.target.value)))}
          >
            {images.map((image) => (
              <option key={image.id} value={image.id}>
                {image.name}
              </option>
            ))}
          </select>
        </div>
        <SizeFields idPrefix="pool" values={values} onChange={change} />
        <NumberField
          id="pool-count"
          label="Labs kept ready"
          value={values.count}
          min={0}
          max={MAX_POOL_COUNT}
          onChange={(count) => change({ count })}
        />
      </div>
      <label className="check">
        <input
          type="checkbox"
          checked={values.classHoursOnly}
          onChange={(event) => change({ classHoursOnly: event.target.checked })}
        />
        Only during class hours (filled a few minutes before each session, emptied after it)
      </label>
      <p className="muted small">
        Launches match a pool when they ask for the same image, vCPUs, memory and disk.
      </p>
      <button className="button primary" type="submit" disabled={busy}>
        {busy ? 'Saving…' : 'Keep them ready'}
      </button>
    </form>
  );
}
