'use client';

import type { ConsoleServerMessage } from '@labvisor/shared';
import { useEffect, useRef, useState } from 'react';
import '@xterm/xterm/css/xterm.css';
import { api, describeError } from '@/lib/api';

/** Close code the server uses when the VM stopped or access ended: no point reconnecting. */
const GONE = 4404;
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
/** Where this browser keeps whether the terminal runs in screen reader mode. */
const SCREEN_READER_KEY = 'labvisor.terminal.screenReader';

type Viewer = { userId: string; name: string; mode: 'interactive' | 'view' };

/**
 * The VM's serial console in xterm.js: bytes both ways over the console WebSocket, who else is
 * connected, and a banner while it reconnects (after a dropped network or a server restart).
 */
export function SerialTerminal({
  vmId,
  mode = 'interactive',
  tabLeaves,
}: {
  vmId: string;
  mode?: 'interactive' | 'view';
  /** While true, Tab and Shift+Tab move the focus out instead of going to the guest. */
  tabLeaves: { current: boolean };
}) {
  const container = useRef<HTMLElement>(null);
  const [banner, setBanner] = useState<string>('Connecting…');
  const [viewers, setViewers] = useState<Viewer[]>([]);
  const [screenReader, setScreenReader] = useState(false);
  const terminalRef = useRef<{ options: { screenReaderMode?: boolean } }>(null);
  // The choice is the user's, kept in this browser across labs.
  useEffect(() => setScreenReader(localStorage.getItem(SCREEN_READER_KEY) === 'on'), []);
  useEffect(() => {
    if (terminalRef.current) terminalRef.current.options.screenReaderMode = screenReader;
  }, [screenReader]);

  useEffect(() => {
    let disposed = false;
    let socket: WebSocket | undefined;
    let attempt = 0;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    const cleanups: Array<() => void> = [];

    (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([
        import('@xterm/xterm'),
        import('@xterm/addon-fit'),
      ]);
      if (disposed || !container.current) return;
      const terminal = new Terminal({
        cursorBlink: true,
        fontSize: 14,
        convertEol: false,
        scrollback: 5000,
      });
      const fit = new FitAddon();
      terminal.loadAddon(fit);
      terminal.open(container.current);
      // Unhandled, Tab keeps its browser meaning: focus moves on.
      terminal.attachCustomKeyEventHandler((event) => !(tabLeaves.current && event.key === 'Tab'));
      fit.fit();
      terminal.options.screenReaderMode = localStorage.getItem(SCREEN_READER_KEY) === 'on';
      terminalRef.current = terminal;
      terminal.focus();
      const onResize = () => fit.fit();
      window.addEventListener('resize', onResize);
      cleanups.push(
        () => window.removeEventListener('resize', onResize),
        () => terminal.dispose(),
      );
      const encoder = new TextEncoder();
      terminal.onData((data) => {
        if (socket?.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
      });

      const connect = async () => {
        try {
          const { url } = await api.consoleTicket(vmId, 'serial', mode);
          if (disposed) return;
          const ws = new WebSocket(`${window.location.origin.replace(/^http/, 'ws')}${url}`);
          ws.binaryType = 'arraybuffer';
          socket = ws;
          ws.onopen = () => {
            attempt = 0;
            setBanner('');
            terminal.reset();
          };
          ws.onmessage = (event) => {
            if (event.data instanceof ArrayBuffer) {
              terminal.write(new Uint8Array(event.data));
              return;
            }
            const message = JSON.parse(String(event.data)) as ConsoleServerMessage;
            if (message.type === 'viewers') setViewers(message.viewers);
            // What the server says about the VM (an idle warning) shows above the terminal.
            if (message.type === 'status' && message.message) setBanner(message.message);
          };
          ws.onclose = (event) => {
            if (disposed) return;
            if (event.code === GONE) {
              setBanner(event.reason || 'The console closed.');
              return;
            }
            scheduleReconnect(event.reason || 'Connection lost.');
          };
        } catch (error) {
          if (!disposed) scheduleReconnect(describeError(error));
        }
      };
      const scheduleReconnect = (reason: string) => {
        const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]!;
        attempt++;
        setBanner(`${reason} Reconnecting…`);
        retryTimer = setTimeout(() => void connect(), delay);
      };
      await connect();
    })();

    return () => {
      disposed = true;
      clearTimeout(retryTimer);
      socket?.close();
      for (const cleanup of cleanups.reverse()) cleanup();
    };
  }, [vmId, mode, tabLeaves]);

  const others = viewers.length > 1 ? viewers : [];
  return (
    <div className="terminal-panel">
      {banner && (
        <p className="banner" role="status">
          {banner}
        </p>
      )}
      <section ref={container} className="terminal" aria-label="Serial terminal" />
      <label className="check small">
        <input
          type="checkbox"
          checked={screenReader}
          onChange={(event) => {
            localStorage.setItem(SCREEN_READER_KEY, event.target.checked ? 'on' : 'off');
            setScreenReader(event.target.checked);
          }}
        />
        Screen reader mode: new output is read as it arrives, and the terminal's lines can be
        reviewed with your screen reader's reading keys. The terminal is text; click it (or tab to
        it) to type.
      </label>
      {others.length > 0 && (
        <p className="muted small">
          Connected:{' '}
          {others
            .map((viewer) => `${viewer.name}${viewer.mode === 'view' ? ' (watching)' : ''}`)
            .join(', ')}
        </p>
      )}
    </div>
  );
}
