'use client';

import { useState } from 'react';
import { describeError } from '@/lib/api';

/** A page's changes (create, save, delete…) and what the last one did. */
export interface PageActions {
  /** The sentence saying what the last change did. */
  message: string | undefined;
  /** The API's refusal of the last change, as a sentence. */
  error: string | undefined;
  /**
   * Runs a change, then shows `done` (when the change's effect is not visible by itself) or the
   * API's refusal (handed to `onRefused` instead, when given, to show it beside its form) and
   * reloads the page's data; true when the change was made.
   */
  run: (
    work: () => Promise<unknown>,
    done?: string,
    onRefused?: (sentence: string) => void,
  ) => Promise<boolean>;
  /** Shows what a change made another way did (an upload finished). */
  show: (message: string) => void;
}

/** The changes of a page whose data `reload` loads again. */
export function usePageActions(reload: () => void): PageActions {
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  const run: PageActions['run'] = async (work, done, onRefused) => {
    setError(undefined);
    setMessage(undefined);
    let succeeded = false;
    try {
      await work();
      setMessage(done);
      succeeded = true;
    } catch (caught) {
      (onRefused ?? setError)(describeError(caught));
    }
    reload();
    return succeeded;
  };
  const show = (shown: string) => {
    setError(undefined);
    setMessage(shown);
  };
  return { message, error, run, show };
}

/** What a page's last change did, or why it was refused. */
export function ActionFeedback({ actions }: { actions: PageActions }) {
  return (
    <>
      {actions.error && (
        <p className="alert error" role="alert">
          {actions.error}
        </p>
      )}
      <p className="alert success" role="status" hidden={!actions.message}>
        {actions.message}
      </p>
    </>
  );
}
