'use client';

import type { Vm } from '@labvisor/shared';
import { type DragEvent, type FormEvent, useState } from 'react';
import { api, describeError } from '@/lib/api';

/** The largest file moved in or out of a lab (the API refuses more). */
const MAX_FILE_MIB = 1;

/**
 * Files in and out of a running lab, through its guest agent (never its network): drop or pick a
 * file to put it in the lab's home (progress shown), or name a path to download it.
 */
export function LabFilesPanel({ vm }: { vm: Vm }) {
  const [folder, setFolder] = useState('~/');
  const [progress, setProgress] = useState<{ name: string; sent: number; total: number }>();
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  const [downloadPath, setDownloadPath] = useState('~/');
  const running = vm.state === 'running';

  const upload = async (file: File) => {
    setError(undefined);
    setMessage(undefined);
    if (file.size > MAX_FILE_MIB * 1024 ** 2) {
      setError(`“${file.name}” is larger than ${MAX_FILE_MIB} MiB, the most a lab takes at once.`);
      return;
    }
    const target = `${folder.replace(/\/*$/, '')}/${file.name}`;
    setProgress({ name: file.name, sent: 0, total: file.size });
    try {
      await api.writeLabFile(vm.id, target, file, (sent, total) =>
        setProgress({ name: file.name, sent, total }),
      ).done;
      setMessage(`“${file.name}” is in the lab at ${target}.`);
    } catch (caught) {
      setError(describeError(caught));
    }
    setProgress(undefined);
  };
  const onDrop = (event: DragEvent<HTMLElement>) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file && running) void upload(file);
  };
  const download = (event: FormEvent) => {
    event.preventDefault();
    window.location.assign(api.labFileUrl(vm.id, downloadPath.trim()));
  };

  return (
    <section className="card" aria-labelledby="files-title">
      <h2 id="files-title">Files</h2>
      {!running && <p className="muted">Files move in and out while the lab runs.</p>}
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      <p className="alert success" role="status" hidden={!message}>
        {message}
      </p>
      <section
        className="drop-zone"
        aria-label="Drop a file here to put it in the lab"
        onDragOver={(event) => event.preventDefault()}
        onDrop={onDrop}
      >
        <div className="form-row">
          <div className="field">
            <label htmlFor="files-folder">Into the lab’s folder</label>
            <input
              id="files-folder"
              value={folder}
              onChange={(event) => setFolder(event.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="files-upload">File (at most {MAX_FILE_MIB} MiB, or drop it here)</label>
            <input
              id="files-upload"
              type="file"
              disabled={!running || progress !== undefined}
              onChange={(event) => {
                const file = event.target.files?.[0];
                if (file) void upload(file);
                event.target.value = '';
              }}
            />
          </div>
        </div>
        {progress && (
          <progress
            aria-label={`Sending ${progress.name}`}
            max={progress.total || 1}
            value={progress.sent}
          />
        )}
      </section>
      <form onSubmit={download} aria-label="Download a file from the lab" className="form-row">
        <div className="field">
          <label htmlFor="files-download">Path in the lab</label>
          <input
            id="files-download"
            value={downloadPath}
            onChange={(event) => setDownloadPath(event.target.value)}
          />
        </div>
        <button className="button" type="submit" disabled={!running}>
          Download
        </button>
      </form>
    </section>
  );
}
