'use client';

import type { MeResponse } from '@labvisor/shared';
import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { ApiError, api } from '@/lib/api';

/** The signed-in user and memberships; sends the browser to /login when nobody is signed in. */
export function useSession(): { me: MeResponse | undefined; error: string | undefined } {
  const router = useRouter();
  const [me, setMe] = useState<MeResponse>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.me().then(setMe, (caught: unknown) => {
      if (caught instanceof ApiError && caught.code === 'UNAUTHENTICATED') router.replace('/login');
      else setError(caught instanceof Error ? caught.message : String(caught));
    });
  }, [router]);
  return { me, error };
}
