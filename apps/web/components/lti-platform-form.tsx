'use client';

import type { CreateLtiPlatformRequest } from '@labvisor/shared';
import { type FormEvent, useState } from 'react';

const FIELDS: { name: keyof CreateLtiPlatformRequest; label: string; hint: string }[] = [
  { name: 'issuer', label: 'Issuer', hint: 'e.g. https://moodle.school.example' },
  { name: 'clientId', label: 'Client id', hint: 'given by the platform for this tool' },
  { name: 'deploymentId', label: 'Deployment id', hint: 'given by the platform' },
  {
    name: 'authorizationUrl',
    label: 'Authentication request URL',
    hint: 'the platform’s OpenID Connect endpoint',
  },
  { name: 'keySetUrl', label: 'Public key set URL', hint: 'the platform’s JWKS' },
];

/** What a learning platform shows once Labvisor is added to it as a tool. */
export function LtiPlatformForm({
  onRegister,
}: {
  /** Registers it; true when it was registered (the form then empties). */
  onRegister: (body: CreateLtiPlatformRequest) => Promise<boolean>;
}) {
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const body = Object.fromEntries(
      FIELDS.map(({ name }) => [name, String(form.get(name) ?? '').trim()]),
    ) as unknown as CreateLtiPlatformRequest;
    setBusy(true);
    if (await onRegister(body)) formElement.reset();
    setBusy(false);
  };
  return (
    <form onSubmit={submit} aria-label="Register a learning platform">
      {FIELDS.map(({ name, label, hint }) => (
        <div className="field" key={name}>
          <label htmlFor={`lti-${name}`}>{label}</label>
          <input
            id={`lti-${name}`}
            name={name}
            required
            aria-describedby={`lti-${name}-hint`}
            autoComplete="off"
          />
          <span id={`lti-${name}-hint`} className="muted">
            {hint}
          </span>
        </div>
      ))}
      <button className="button primary" type="submit" disabled={busy}>
        Register the platform
      </button>
    </form>
  );
}
