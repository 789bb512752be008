'use client';

import { useEffect, useRef, useState } from 'react';
import { api, describeError } from '@/lib/api';

const RECONNECT_DELAY_MS = 2000;

/** The parts of noVNC's RFB object the viewer uses. */
interface Rfb extends EventTarget {
  viewOnly: boolean;
  scaleViewport: boolean;
  resizeSession: boolean;
  disconnect(): void;
  sendCtrlAltDel(): void;
  clipboardPasteFrom(text: string): void;
}

/**
 * The VM's graphical console through noVNC: RFB over the console WebSocket, scaled to the page,
 * with Ctrl-Alt-Del, a clipboard box and full screen. A `view` viewer's input is dropped by the server.
 */
export function DesktopViewer({
  vmId,
  mode = 'interactive',
  tabLeaves,
}: {
  vmId: string;
  mode?: 'interactive' | 'view';
  /** While true, Tab and Shift+Tab move the focus out instead of going to the guest. */
  tabLeaves: { current: boolean };
}) {
  const screen = useRef<HTMLDivElement>(null);
  const rfb = useRef<Rfb | undefined>(undefined);
  const [status, setStatus] = useState('Connecting…');
  const [clipboard, setClipboard] = useState('');

  useEffect(() => {
    let disposed = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = async () => {
      try {
        const [{ default: RFB }, { url }] = await Promise.all([
          import('@novnc/novnc'),
          api.consoleTicket(vmId, 'vnc', mode),
        ]);
        if (disposed || !screen.current) return;
        const client = new RFB(
          screen.current,
          `${window.location.origin.replace(/^http/, 'ws')}${url}`,
          {
            wsProtocols: ['binary'],
          },
        ) as unknown as Rfb;
        // noVNC takes its canvas out of the Tab order; a keyboard user reaches the desktop with Tab.
        const canvas = screen.current.querySelector('canvas');
        if (canvas) {
          canvas.tabIndex = 0;
          canvas.setAttribute('role', 'application');
          canvas.setAttribute(
            'aria-label',
            mode === 'view'
              ? 'Desktop of the lab, watched: keys are not sent'
              : 'Desktop of the lab: keys typed here go to the lab',
          );
        }
        client.viewOnly = mode === 'view';
        client.scaleViewport = true;
        client.resizeSession = false;
        client.addEventListener('connect', () => setStatus(''));
        client.addEventListener('clipboard', (event) =>
          setClipboard((event as CustomEvent<{ text: string }>).detail.text),
        );
        client.addEventListener('disconnect', () => {
          rfb.current = undefined;
          if (disposed) return;
          setStatus('Disconnected. Reconnecting…');
          retry = setTimeout(() => void connect(), RECONNECT_DELAY_MS);
        });
        rfb.current = client;
      } catch (error) {
        if (disposed) return;
        setStatus(`${describeError(error)} Reconnecting…`);
        retry = setTimeout(() => void connect(), RECONNECT_DELAY_MS);
      }
    };
    void connect();
    return () => {
      disposed = true;
      clearTimeout(retry);
      rfb.current?.disconnect();
    };
  }, [vmId, mode]);

  return (
    <div className="desktop-panel">
      <div className="toolbar">
        <button
          className="button"
          type="button"
          disabled={mode === 'view'}
          onClick={() => rfb.current?.sendCtrlAltDel()}
        >
          Send Ctrl-Alt-Del
        </button>
        <button
          className="button"
          type="button"
          onClick={() => void screen.current?.requestFullscreen()}
        >
          Full screen
        </button>
        {status && (
          <span className="muted" role="status">
            {status}
          </span>
        )}
      </div>
      {/* Caught before noVNC's own key handler on its canvas: Tab then keeps its browser meaning. */}
      <div
        ref={screen}
        className="desktop"
        onKeyDownCapture={(event) => {
          if (tabLeaves.current && event.key === 'Tab') event.stopPropagation();
        }}
      />
      <div className="field">
        <label htmlFor={`clipboard-${vmId}`}>
          Clipboard (text sent to the VM when you paste it here)
        </label>
        <textarea
          id={`clipboard-${vmId}`}
          rows={2}
          value={clipboard}
          disabled={mode === 'view'}
          onChange={(event) => {
            setClipboard(event.target.value);
            rfb.current?.clipboardPasteFrom(event.target.value);
          }}
        />
      </div>
    </div>
  );
}
