'use client';

import { LTI_PATHS } from '@labvisor/shared';
import { useParams } from 'next/navigation';
import { useEffect, useState } from 'react';
import { ConfirmButton } from '@/components/confirm-button';
import { LtiPlatformForm } from '@/components/lti-platform-form';
import { ActionFeedback, usePageActions } from '@/components/page-actions';
import { SectionPage, tenantSection } from '@/components/section-page';
import { useApiLoad } from '@/components/use-api-load';
import { useSession } from '@/components/use-session';
import { api } from '@/lib/api';

/**
 * A tenant's learning platforms (admins): the URLs to give the platform (Moodle, Canvas…) when
 * adding Labvisor as an LTI 1.3 tool, and the platforms registered, whose course links sign
 * students into the class and open their lab.
 */
export default function TenantLtiPage() {
  const { tenantId } = useParams<{ tenantId: string }>();
  const { me, error } = useSession();
  const loaded = useApiLoad(me && tenantId, async () => {
    const [platforms, tenant] = await Promise.all([
      api.listLtiPlatforms(tenantId),
      api.getTenant(tenantId),
    ]);
    return { platforms, tenant };
  });
  const actions = usePageActions(loaded.reload);
  const [origin, setOrigin] = useState('');
  useEffect(() => setOrigin(window.location.origin), []);

  if (error)
    return (
      <div className="center">
        <p className="alert error">{error}</p>
      </div>
    );
  if (!me) return <div className="center muted">Loading…</div>;
  const { data } = loaded;
  return (
    <SectionPage
      me={me}
      section={tenantSection(me, tenantId)}
      sectionLabel="Tenant"
      title={data ? `${data.tenant.name}: learning platform` : 'Learning platform'}
      refusal={loaded.refusal}
    >
      {loaded.error && <p className="alert error">{loaded.error}</p>}
      <ActionFeedback actions={actions} />
      <section className="card" aria-labelledby="lti-tool-title">
        <h2 id="lti-tool-title">Labvisor as a tool of your learning platform</h2>
        <p className="muted">
          Add Labvisor to your course platform as an LTI 1.3 tool with these URLs, open its links in
          a new window, then register the platform below with what it shows you. A student who opens
          the course link is signed in, joins this class and lands in their lab (made from the
          class’s default image the first time); instructors land on the class.
        </p>
        <dl className="facts">
          <dt>Login initiation URL</dt>
          <dd>
            <code>{origin + LTI_PATHS.login}</code>
          </dd>
          <dt>Redirect URI and target link URI</dt>
          <dd>
            <code>{origin + LTI_PATHS.launch}</code>
          </dd>
        </dl>
      </section>
      <section className="card" aria-labelledby="lti-platforms-title">
        <h2 id="lti-platforms-title">Registered platforms</h2>
        {data && data.platforms.length === 0 && (
          <p className="muted">No platform yet: launches from a course are refused.</p>
        )}
        {data && data.platforms.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Issuer</th>
                <th scope="col">Client id</th>
                <th scope="col">Deployment id</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.platforms.map((platform) => (
                <tr key={platform.id}>
                  <td>{platform.issuer}</td>
                  <td>{platform.clientId}</td>
                  <td>{platform.deploymentId}</td>
                  <td>
                    <ConfirmButton
                      label="Remove"
                      ariaLabel={`Remove ${platform.issuer} (${platform.deploymentId})`}
                      question="Launches from this platform will be refused; accounts it made stay."
                      confirmLabel="Remove the platform"
                      danger
                      onConfirm={() =>
                        actions.run(
                          () => api.deleteLtiPlatform(tenantId, platform.id),
                          'Platform removed.',
                        )
                      }
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="card" aria-labelledby="lti-register-title">
        <h2 id="lti-register-title">Register a platform</h2>
        <LtiPlatformForm
          onRegister={(body) =>
            actions.run(() => api.createLtiPlatform(tenantId, body), 'Platform registered.')
          }
        />
      </section>
    </SectionPage>
  );
}
