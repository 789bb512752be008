'use client';

import { API_ROUTES, type Recording } from '@labvisor/shared';
import { useEffect, useState } from 'react';
import { api, describeError, routeUrl } from '@/lib/api';
import { RecordingPlayer } from './recording-player';

/** A VM's recorded serial sessions, with who was connected, and playback. */
export function RecordingsPanel({ vmId }: { vmId: string }) {
  const [recordings, setRecordings] = useState<Recording[]>();
  const [error, setError] = useState<string>();
  const [playing, setPlaying] = useState<string>();

  useEffect(() => {
    api
      .listRecordings(vmId)
      .then(setRecordings, (caught: unknown) => setError(describeError(caught)));
  }, [vmId]);

  if (error) return <p className="alert error">{error}</p>;
  if (!recordings) return <p className="muted">Loading recordings…</p>;
  if (recordings.length === 0) {
    return (
      <p className="empty">
        No recordings. Recording is switched on per class by a platform admin.
      </p>
    );
  }
  return (
    <>
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Who was connected</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {recordings.map((recording) => (
            <tr key={recording.id}>
              <td>{new Date(recording.startedAt).toLocaleString()}</td>
              <td>
                {recording.viewers
                  .map((viewer) => `${viewer.name}${viewer.mode === 'view' ? ' (watching)' : ''}`)
                  .join(', ') || '—'}
              </td>
              <td className="actions">
                <button className="button" type="button" onClick={() => setPlaying(recording.id)}>
                  Play
                </button>
                <a
                  className="button"
                  href={routeUrl(API_ROUTES.recordingCast, {
                    params: { recordingId: recording.id },
                  })}
                >
                  Download
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {playing && <RecordingPlayer key={playing} recordingId={playing} />}
    </>
  );
}
