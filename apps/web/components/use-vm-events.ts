'use client';

import { API_ROUTES, type Vm } from '@labvisor/shared';
import { useEffect, useRef } from 'react';

/**
 * Follows the server's VM change events (`GET /api/v1/events`): `onVm` gets each VM the user can
 * see as it changes, `onDeleted` the id of one deleted. The browser reconnects by itself; pages
 * keep a slow poll besides, for changes made on another server replica.
 */
export function useVmEvents(
  enabled: boolean,
  handlers: { onVm: (vm: Vm) => void; onDeleted?: (vmId: string) => void },
): void {
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource(API_ROUTES.vmEvents.path);
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
