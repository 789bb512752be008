'use client';

import { useParams, useRouter } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import { api, describeError } from '@/lib/api';

/**
 * A one-time sign-in link (`/signin/<token>`, from a roster import): signs its account in and
 * sends it to its profile to set a password.
 */
export default function SignInLinkPage() {
  const { token } = useParams<{ token: string }>();
  const router = useRouter();
  const [error, setError] = useState<string>();
  // A link works once: ask once, even if the page renders twice.
  const asked = useRef(false);
  useEffect(() => {
    if (asked.current) return;
    asked.current = true;
    api.signInWithLink(token).then(
      () => router.replace('/profile'),
      (caught: unknown) => setError(describeError(caught)),
    );
  }, [token, router]);
  return (
    <main className="center">
      <section className="card narrow" aria-labelledby="signin-link-title">
        <h1 id="signin-link-title">
          {error ? 'This sign-in link does not work' : 'Signing you in…'}
        </h1>
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
      </section>
    </main>
  );
}
