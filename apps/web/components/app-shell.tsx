'use client';

import type { MeResponse } from '@labvisor/shared';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import type { ReactNode } from 'react';
import { api } from '@/lib/api';

/** One entry of the top bar: a page the signed-in user may open. */
interface NavLink {
  href: string;
  label: string;
}

/**
 * The pages the top bar offers, from the user's roles: My labs for everyone, a class page for each
 * tenant where the user is an instructor or admin, Admin for platform admins. The server decides
 * what each page may show; this only avoids offering pages that would answer "not allowed".
 */
function navLinks(me: MeResponse): NavLink[] {
  const links: NavLink[] = [{ href: '/', label: 'My labs' }];
  for (const membership of me.memberships) {
    if (membership.role === 'member') continue;
    links.push({ href: `/tenants/${membership.tenantId}`, label: membership.tenantName });
  }
  if (me.user.isPlatformAdmin) links.push({ href: '/admin', label: 'Admin' });
  return links;
}

/** Whether the link is the current page or one of its sub-pages (`/` only matches itself). */
function isCurrent(pathname: string, href: string): boolean {
  return href === '/' ? pathname === '/' : pathname === href || pathname.startsWith(`${href}/`);
}

/** The frame of every signed-in page: the top bar with the user's pages and sign-out, then the page. */
export function AppShell({ me, children }: { me: MeResponse; children: ReactNode }) {
  const router = useRouter();
  const pathname = usePathname();
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
        <nav aria-label="Main">
          {navLinks(me).map((link) => (
            <Link
              key={link.href}
              href={link.href}
              aria-current={isCurrent(pathname, link.href) ? 'page' : undefined}
            >
              {link.label}
            </Link>
          ))}
        </nav>
        <span className="spacer" />
        <Link className="who" href="/profile">
          {me.user.email}
        </Link>
        <button className="button" type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main className="page">{children}</main>
    </>
  );
}
