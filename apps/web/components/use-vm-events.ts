'use client';

import { API_ROUTES, type Vm } from '@labvisor/shared';
import { useEffect, useRef } from 'react';

/**
 * Follows the server's VM change events (`GET /api/v1/events`, changes made through any server
 * replica): `onVm` gets each VM the user can see as it changes (or gains activity), `onDeleted`
 * the id of one deleted, `onOpen` runs each time the stream (re)connects, so the page reads again
 * what it may have missed. The browser reconnects by itself; a page costs nothing while nothing
 * changes.
 */
export function useVmEvents(
  enabled: boolean,
  handlers: {
    onVm: (vm: Vm) => void;
    onDeleted?: (vmId: string) => void;
    onOpen?: () => void;
  },
): void {
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource(API_ROUTES.vmEvents.path);
    source.addEventListener('open', () => current.current.onOpen?.());
    source.addEventListener('vm', (event) => {
      current.current.onVm(JSON.parse((event as MessageEvent<string>).data) as Vm);
    });
    source.addEventListener('vm-deleted', (event) => {
      const { id } = JSON.parse((event as MessageEvent<string>).data) as { id: string };
      current.current.onDeleted?.(id);
    });
    return () => source.close();
  }, [enabled]);
}
