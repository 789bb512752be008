'use client';

import { useState } from 'react';

/**
 * A button that asks before it acts: the first click shows the question in place, with a button
 * that says exactly what will happen and a Cancel.
 */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  danger = false,
  disabled = false,
  ariaLabel,
}: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => void;
  danger?: boolean;
  disabled?: boolean;
  ariaLabel?: string;
}) {
  const [asking, setAsking] = useState(false);
  const style = danger ? 'button danger' : 'button';
  if (!asking) {
    return (
      <button
        className={style}
        type="button"
        disabled={disabled}
        aria-label={ariaLabel}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
    );
  }
  return (
    <fieldset className="confirm">
      <legend>{question}</legend>
      <button
        className={danger ? 'button danger' : 'button primary'}
        type="button"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button className="button" type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </fieldset>
  );
}
