import { z } from 'zod';

/** The browser endpoints a learning platform is configured with (not JSON API routes). */
export const LTI_PATHS = {
  /** OpenID Connect third-party login initiation (GET or POST from the platform). */
  login: '/lti/login',
  /** Where the platform posts the signed ID token (the redirect URI and target link URI). */
  launch: '/lti/launch',
} as const;

/** A URL a platform serves: https, or http on the loopback interface (development, tests). */
const platformUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .refine(
    (text) => {
      const url = new URL(text);
      return url.protocol === 'https:' || isLoopbackHost(url.hostname);
    },
    { message: 'must be an https URL (plain http only on the loopback interface)' },
  );

/** Whether a URL's host name is the loopback interface. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const platformTextSchema = z.string().trim().min(1).max(255);

/** Body of `POST /api/v1/tenants/:tenantId/lti-platforms`: a learning platform's registration. */
export const createLtiPlatformRequestSchema = z.strictObject({
  /** The platform's issuer (`iss` of its ID tokens), e.g. `https://moodle.school.example`. */
  issuer: platformUrlSchema,
  /** The client id the platform gave Labvisor. */
  clientId: platformTextSchema,
  /** The deployment id of this tool on the platform. */
  deploymentId: platformTextSchema,
  /** The platform's OpenID Connect authorization endpoint ("authentication request URL"). */
  authorizationUrl: platformUrlSchema,
  /** The platform's public key set (JWKS) URL. */
  keySetUrl: platformUrlSchema,
});

/** Body of `POST /api/v1/tenants/:tenantId/lti-platforms`. */
export type CreateLtiPlatformRequest = z.infer<typeof createLtiPlatformRequestSchema>;

/** A learning platform registered by a tenant: its launches sign people into the tenant. */
export const ltiPlatformSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  issuer: z.string(),
  clientId: z.string(),
  deploymentId: z.string(),
  authorizationUrl: z.string(),
  keySetUrl: z.string(),
  createdAt: z.string(),
});

/** A learning platform registered by a tenant. */
export type LtiPlatform = z.infer<typeof ltiPlatformSchema>;
