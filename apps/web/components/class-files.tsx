'use client';

import { type FormEvent, useState } from 'react';
import { api, describeError } from '@/lib/api';

/**
 * A class's files, for its instructors: hand a file out to every member's running lab, and collect
 * one path from all of them as one archive (with MISSING.txt naming who had nothing there).
 */
export function ClassFiles({ tenantId }: { tenantId: string }) {
  const [handoutPath, setHandoutPath] = useState('~/');
  const [collectPath, setCollectPath] = useState('~/');
  const [sending, setSending] = useState<{ sent: number; total: number }>();
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();

  const handout = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const file = (new FormData(event.currentTarget).get('file') as File | null) ?? undefined;
    if (!file || file.size === 0) return;
    setError(undefined);
    setMessage(undefined);
    const folder = handoutPath.trim().replace(/\/*$/, '');
    const target = `${folder}/${file.name}`;
    setSending({ sent: 0, total: file.size });
    try {
      const { delivered, refused } = await api.handoutFile(tenantId, target, file, (sent, total) =>
        setSending({ sent, total }),
      ).done;
      const notes = refused.map((lab) => `${lab.name}: ${lab.reason}`).join(' ');
      setMessage(
        `“${file.name}” is in ${delivered.length === 1 ? '1 lab' : `${delivered.length} labs`} at ${target}.${notes ? ` Not delivered — ${notes}` : ''}`,
      );
    } catch (caught) {
      setError(describeError(caught));
    }
    setSending(undefined);
  };
  const collect = (event: FormEvent) => {
    event.preventDefault();
    window.location.assign(api.collectUrl(tenantId, collectPath.trim()));
  };

  return (
    <section className="card" aria-labelledby="class-files-title">
      <h2 id="class-files-title">Hand out and collect files</h2>
      <p className="muted">
        Files move through each running lab’s agent, never its network, at most 1 MiB each.
      </p>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      <p className="alert success" role="status" hidden={!message}>
        {message}
      </p>
      <form onSubmit={handout} aria-label="Hand a file out to the class" className="form-row">
        <div className="field">
          <label htmlFor="handout-file">File</label>
          <input id="handout-file" name="file" type="file" required />
        </div>
        <div className="field">
          <label htmlFor="handout-folder">Into each lab’s folder</label>
          <input
            id="handout-folder"
            value={handoutPath}
            onChange={(event) => setHandoutPath(event.target.value)}
          />
        </div>
        <button className="button" type="submit" disabled={sending !== undefined}>
          Hand out
        </button>
        {sending && (
          <progress
            aria-label="Sending the handout"
            max={sending.total || 1}
            value={sending.sent}
          />
        )}
      </form>
      <form onSubmit={collect} aria-label="Collect a file from the class" className="form-row">
        <div className="field">
          <label htmlFor="collect-path">Path in each lab</label>
          <input
            id="collect-path"
            value={collectPath}
            onChange={(event) => setCollectPath(event.target.value)}
          />
        </div>
        <button className="button" type="submit">
          Collect as an archive
        </button>
      </form>
    </section>
  );
}
