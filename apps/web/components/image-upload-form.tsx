'use client';

import type { Image, ImageFormat, Tenant } from '@labvisor/shared';
import { type FormEvent, useRef, useState } from 'react';
import { api, describeError, type Upload } from '@/lib/api';
import { formatBytes } from '@/lib/format';

/** The format a file's name suggests; the person can still choose another. */
function formatOfFileName(name: string): ImageFormat | undefined {
  const extension = name.toLowerCase().split('.').pop();
  if (extension === 'qcow2' || extension === 'iso') return extension;
  if (extension === 'raw' || extension === 'img') return 'raw';
  return undefined;
}

/** An upload's progress as the form shows it. */
interface Progress {
  sent: number;
  total: number;
}

/**
 * Uploads an image file (qcow2, raw or ISO) for every tenant or for one, with a progress bar and
 * a Cancel button. The server checks the file after it arrives; its answer shows as a sentence.
 */
export function ImageUploadForm({
  tenants,
  onUploaded,
}: {
  tenants: Tenant[];
  onUploaded: (image: Image) => void;
}) {
  const [name, setName] = useState('');
  const [format, setFormat] = useState<ImageFormat>('qcow2');
  const [tenantId, setTenantId] = useState('');
  const [file, setFile] = useState<File>();
  const [progress, setProgress] = useState<Progress>();
  const [error, setError] = useState<string>();
  const upload = useRef<Upload<Image>>(undefined);
  const fileInput = useRef<HTMLInputElement>(null);

  const chooseFile = (chosen: File | undefined) => {
    setFile(chosen);
    if (!chosen) return;
    const suggested = formatOfFileName(chosen.name);
    if (suggested) setFormat(suggested);
    if (!name) setName(chosen.name.replace(/\.[^.]+$/, '').slice(0, 64));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setError(undefined);
    setProgress({ sent: 0, total: file.size });
    const started = api.uploadImage(
      { name, format, ...(tenantId ? { tenantId } : {}) },
      file,
      (sent, total) => setProgress({ sent, total }),
    );
    upload.current = started;
    try {
      const image = await started.done;
      setName('');
      setFile(undefined);
      if (fileInput.current) fileInput.current.value = '';
      onUploaded(image);
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      upload.current = undefined;
      setProgress(undefined);
    }
  };

  const busy = progress !== undefined;
  const percent = progress && progress.total > 0 ? (progress.sent / progress.total) * 100 : 0;
  // Every byte is sent: the server is checking the image (qemu-img) before it answers.
  const checking = busy && progress.sent >= progress.total;
  return (
    <form className="image-upload" onSubmit={submit} aria-label="Upload an image">
      <div className="form-row">
        <div className="field grow">
          <label htmlFor="image-file">Image file</label>
          <input
            id="image-file"
            ref={fileInput}
            type="file"
            accept=".qcow2,.img,.raw,.iso"
            required
            disabled={busy}
            onChange={(e) => chooseFile(e.target.files?.[0])}
          />
        </div>
        <div className="field">
          <label htmlFor="image-format">Format</label>
          <select
            id="image-format"
            value={format}
            disabled={busy}
            onChange={(e) => setFormat(e.target.value as ImageFormat)}
          >
            <option value="qcow2">qcow2 disk</option>
            <option value="raw">Raw disk</option>
            <option value="iso">ISO (installer CD)</option>
          </select>
        </div>
      </div>
      <div className="form-row">
        <div className="field grow">
          <label htmlFor="image-name">Name</label>
          <input
            id="image-name"
            value={name}
            required
            maxLength={64}
            disabled={busy}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="image-tenant">Available to</label>
          <select
            id="image-tenant"
            value={tenantId}
            disabled={busy}
            onChange={(e) => setTenantId(e.target.value)}
          >
            <option value="">All tenants</option>
            {tenants.map((tenant) => (
              <option key={tenant.id} value={tenant.id}>
                {tenant.name} only
              </option>
            ))}
          </select>
        </div>
        <button className="button primary" type="submit" disabled={busy || !file}>
          Upload image
        </button>
      </div>
      {busy && (
        <div className="upload-progress">
          <label htmlFor="image-progress">
            {checking
              ? 'Checking the image…'
              : `Uploading ${file?.name}: ${Math.floor(percent)}% (${formatBytes(progress.sent)} of ${formatBytes(progress.total)})`}
          </label>
          <progress id="image-progress" max={100} value={checking ? undefined : percent} />
          <button className="button" type="button" onClick={() => upload.current?.cancel()}>
            Cancel upload
          </button>
        </div>
      )}
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
