'use client';

import type { MeResponse } from '@labvisor/shared';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import type { ReactNode } from 'react';
import { api } from '@/lib/api';

/** The frame of every signed-in page: the top bar with the user and sign-out, then the page. */
export function AppShell({ me, children }: { me: MeResponse; children: ReactNode }) {
  const router = useRouter();
  const signOut = async () => {
    await api.logout().catch(() => {});
    router.replace('/login');
  };
  return (
    <>
      <header className="topbar">
        <Link className="brand" href="/">
          Labvisor
        </Link>
        <nav>
          <Link href="/">My labs</Link>
        </nav>
        <span className="spacer" />
        <span className="who">{me.user.email}</span>
        <button className="button" type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main className="page">{children}</main>
    </>
  );
}
