'use client';

import { API_ROUTES } from '@labvisor/shared';
import { useEffect, useRef, useState } from 'react';
import { routeUrl } from '@/lib/api';
import '@xterm/xterm/css/xterm.css';

/** Pauses longer than this are shortened in playback. */
const MAX_IDLE_SECONDS = 2;

/** Plays an asciicast v2 recording (its output events) in xterm.js, in real time with idle gaps cut. */
export function RecordingPlayer({ recordingId }: { recordingId: string }) {
  const screen = useRef<HTMLElement>(null);
  const [status, setStatus] = useState('Loading…');

  useEffect(() => {
    let cancelled = false;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    let dispose = () => {};
    (async () => {
      const [{ Terminal }, response] = await Promise.all([
        import('@xterm/xterm'),
        fetch(routeUrl(API_ROUTES.recordingCast, { params: { recordingId } }), {
          credentials: 'same-origin',
        }),
      ]);
      if (cancelled || !screen.current) return;
      if (!response.ok) {
        setStatus('This recording cannot be played.');
        return;
      }
      const [headerLine, ...eventLines] = (await response.text()).trim().split('\n');
      const header = JSON.parse(headerLine ?? '{}') as { width?: number; height?: number };
      const terminal = new Terminal({
        cols: header.width ?? 120,
        rows: header.height ?? 36,
        disableStdin: true,
        fontSize: 13,
      });
      terminal.open(screen.current);
      // Nothing is typed into a recording: Tab keeps moving the focus on.
      terminal.attachCustomKeyEventHandler((event) => event.key !== 'Tab');
      // xterm paints only while on screen: bring the player into view.
      screen.current.scrollIntoView({ block: 'nearest' });
      dispose = () => terminal.dispose();
      let at = 0;
      let previous = 0;
      for (const line of eventLines) {
        const [seconds, kind, text] = JSON.parse(line) as [number, string, string];
        if (kind !== 'o') continue;
        at += Math.min(seconds - previous, MAX_IDLE_SECONDS);
        previous = seconds;
        timers.push(setTimeout(() => terminal.write(text.replace(/\r?\n/g, '\r\n')), at * 1000));
      }
      timers.push(setTimeout(() => setStatus('End of recording.'), at * 1000));
      setStatus('Playing…');
    })().catch(() => setStatus('This recording cannot be played.'));
    return () => {
      cancelled = true;
      for (const timer of timers) clearTimeout(timer);
      dispose();
    };
  }, [recordingId]);

  return (
    <div>
      <p className="muted small" role="status">
        {status}
      </p>
      <section ref={screen} className="terminal recording" aria-label="Recording playback" />
    </div>
  );
}
