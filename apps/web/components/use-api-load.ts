'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, describeError } from '@/lib/api';

/** What a page loaded from the API: the data, or why not. */
export interface ApiLoad<T> {
  data: T | undefined;
  /** The API's sentence when it refused (403, or 404 for what the user may not see). */
  refusal: string | undefined;
  /** Any other failure, as a sentence. */
  error: string | undefined;
  /** Loads again (after a change). */
  reload: () => void;
}

/**
 * Loads what a page shows once `key` is set (e.g. when the session is known), and again when it
 * changes or on `reload()`. A FORBIDDEN or NOT_FOUND answer is a refusal: the page shows that it
 * may not be seen, never an empty page.
 */
export function useApiLoad<T>(key: string | undefined, load: () => Promise<T>): ApiLoad<T> {
  const [data, setData] = useState<T>();
  const [refusal, setRefusal] = useState<string>();
  const [error, setError] = useState<string>();
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  // `round` changes to ask for a reload.
  useEffect(() => {
    if (key === undefined) return;
    let current = true;
    loadRef.current().then(
      (loaded) => {
        if (!current) return;
        setData(loaded);
        setError(undefined);
      },
      (caught: unknown) => {
        if (!current) return;
        if (
          caught instanceof ApiError &&
          (caught.code === 'FORBIDDEN' || caught.code === 'NOT_FOUND')
        )
          setRefusal(caught.message);
        else setError(describeError(caught));
      },
    );
    return () => {
      current = false;
    };
  }, [key, round]);

  const reload = useCallback(() => setRound((count) => count + 1), []);
  return { data, refusal, error, reload };
}

/** Calls `reload` every `intervalMs` while `enabled` (a page following work under way). */
export function usePolling(enabled: boolean, reload: () => void, intervalMs: number): void {
  useEffect(() => {
    if (!enabled) return;
    const timer = setInterval(reload, intervalMs);
    return () => clearInterval(timer);
  }, [enabled, reload, intervalMs]);
}
