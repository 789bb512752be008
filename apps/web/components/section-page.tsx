'use client';

import type { MeResponse } from '@labvisor/shared';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import type { ReactNode } from 'react';
import { AppShell } from './app-shell';

/** One page of a section's sub-navigation. */
export interface SectionLink {
  href: string;
  label: string;
}

/** The platform admin area's pages. */
export const ADMIN_SECTION: SectionLink[] = [
  { href: '/admin', label: 'Tenants' },
  { href: '/admin/users', label: 'Users' },
  { href: '/admin/images', label: 'Images' },
  { href: '/admin/audit', label: 'Audit log' },
];

/**
 * A tenant's pages for its instructors and admins: the class and its members, and for admins the
 * usage. As in the top bar, this only avoids offering a page the API would refuse.
 */
export function tenantSection(me: MeResponse, tenantId: string): SectionLink[] {
  const links = [
    { href: `/tenants/${tenantId}`, label: 'Class' },
    { href: `/tenants/${tenantId}/members`, label: 'Members' },
  ];
  const role = me.memberships.find((membership) => membership.tenantId === tenantId)?.role;
  if (me.user.isPlatformAdmin || role === 'admin' || role === 'instructor') {
    links.push({ href: `/tenants/${tenantId}/pools`, label: 'Warm pools' });
    links.push({ href: `/tenants/${tenantId}/schedule`, label: 'Class hours' });
  }
  if (me.user.isPlatformAdmin || role === 'admin') {
    links.push({ href: `/tenants/${tenantId}/usage`, label: 'Usage' });
    links.push({ href: `/tenants/${tenantId}/lti`, label: 'Learning platform' });
  }
  return links;
}

/**
 * A page of a section (the admin area, a tenant's pages): the top bar, the section's
 * sub-navigation and the page's title; or, when the API refused what the page shows, only the
 * refusal, so nothing of the section is offered to someone who may not see it.
 */
export function SectionPage({
  me,
  section,
  sectionLabel,
  title,
  refusal,
  children,
}: {
  me: MeResponse;
  section: SectionLink[];
  /** Names the sub-navigation for screen readers, e.g. "Admin". */
  sectionLabel: string;
  title: string;
  refusal: string | undefined;
  children: ReactNode;
}) {
  const pathname = usePathname();
  if (refusal !== undefined) {
    return (
      <AppShell me={me}>
        <section className="card refusal" role="alert" aria-labelledby="refusal-title">
          <h1 id="refusal-title">You are not allowed to see this page</h1>
          <p>{refusal}</p>
          <p>
            <Link href="/">Back to My labs</Link>
          </p>
        </section>
      </AppShell>
    );
  }
  return (
    <AppShell me={me}>
      <nav className="tabs section-nav" aria-label={sectionLabel}>
        {section.map((link) => (
          <Link
            key={link.href}
            href={link.href}
            className={pathname === link.href ? 'tab active' : 'tab'}
            aria-current={pathname === link.href ? 'page' : undefined}
          >
            {link.label}
          </Link>
        ))}
      </nav>
      <h1>{title}</h1>
      {children}
    </AppShell>
  );
}
