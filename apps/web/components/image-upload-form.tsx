'use client';

import type { Image, ImageFormat, Tenant, UploadImageQuery } from '@labvisor/shared';
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
  const fileInput = useRef<HTMLInputElement>(null);
  const upload = useImageUpload();

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
    await upload.start({ name, format, ...(tenantId ? { tenantId } : {}) }, file, (image) => {
      setName('');
      setFile(undefined);
      if (fileInput.current) fileInput.current.value = '';
      onUploaded(image);
    });
  };

  const busy = upload.progress !== undefined;
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
        <FormatField value={format} disabled={busy} onChange={setFormat} />
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
        <TenantField tenants={tenants} value={tenantId} disabled={busy} onChange={setTenantId} />
        <button className="button primary" type="submit" disabled={busy || !file}>
          Upload image
        </button>
      </div>
      {upload.progress && (
        <UploadProgress fileName={file?.name} progress={upload.progress} onCancel={upload.cancel} />
      )}
      {upload.error && (
        <p className="alert error" role="alert">
          {upload.error}
        </p>
      )}
    </form>
  );
}

/**
 * One image upload at a time: its progress while it runs (undefined otherwise), why the last one
 * failed, and cancelling it. `onDone` runs when the server has accepted the image.
 */
function useImageUpload() {
  const [progress, setProgress] = useState<Progress>();
  const [error, setError] = useState<string>();
  const upload = useRef<Upload<Image>>(undefined);

  const start = async (query: UploadImageQuery, file: File, onDone: (image: Image) => void) => {
    setError(undefined);
    setProgress({ sent: 0, total: file.size });
    const started = api.uploadImage(query, file, (sent, total) => setProgress({ sent, total }));
    upload.current = started;
    try {
      onDone(await started.done);
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      upload.current = undefined;
      setProgress(undefined);
    }
  };
  const cancel = () => upload.current?.cancel();
  return { progress, error, start, cancel };
}

/** The image's format: qcow2, raw or ISO. */
function FormatField({
  value,
  disabled,
  onChange,
}: {
  value: ImageFormat;
  disabled: boolean;
  onChange: (format: ImageFormat) => void;
}) {
  return (
    <div className="field">
      <label htmlFor="image-format">Format</label>
      <select
        id="image-format"
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value as ImageFormat)}
      >
        <option value="qcow2">qcow2 disk</option>
        <option value="raw">Raw disk</option>
        <option value="iso">ISO (installer CD)</option>
      </select>
    </div>
  );
}

/** Who may use the image: every tenant, or one. */
function TenantField({
  tenants,
  value,
  disabled,
  onChange,
}: {
  tenants: Tenant[];
  value: string;
  disabled: boolean;
  onChange: (tenantId: string) => void;
}) {
  return (
    <div className="field">
      <label htmlFor="image-tenant">Available to</label>
      <select
        id="image-tenant"
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
      >
        <option value="">All tenants</option>
        {tenants.map((tenant) => (
          <option key={tenant.id} value={tenant.id}>
            {tenant.name} only
          </option>
        ))}
      </select>
    </div>
  );
}

/** A running upload's progress bar and Cancel button; once every byte is sent, the server's check. */
function UploadProgress({
  fileName,
  progress,
  onCancel,
}: {
  fileName: string | undefined;
  progress: Progress;
  onCancel: () => void;
}) {
  const percent = progress.total > 0 ? (progress.sent / progress.total) * 100 : 0;
  // Every byte is sent: the server is checking the image (qemu-img) before it answers.
  const checking = progress.sent >= progress.total;
  return (
    <div className="upload-progress">
      <label htmlFor="image-progress">
        {checking
          ? 'Checking the image…'
          : `Uploading ${fileName}: ${Math.floor(percent)}% (${formatBytes(progress.sent)} of ${formatBytes(progress.total)})`}
      </label>
      <progress id="image-progress" max={100} value={checking ? undefined : percent} />
      <button className="button" type="button" onClick={onCancel}>
        Cancel upload
      </button>
    </div>
  );
}
