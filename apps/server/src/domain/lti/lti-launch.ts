import { createHash, randomBytes } from 'node:crypto';
import type { TenantRole } from '@labvisor/shared';
import {
  createRemoteJWKSet,
  decodeJwt,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { Knex } from 'knex';
import type { LtiPlatformRow } from '../../db/queries/lti.js';
import { takeLaunchState } from '../../db/queries/lti.js';
import { AppError } from '../../errors.js';

/** How long a launch may take between the login initiation and the platform's post. */
export const LTI_STATE_TTL_MS = 10 * 60_000;

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
/** Course roles that make an instructor of the tenant; every other launch makes a member. */
const STAFF_ROLE =
  /^http:\/\/purl\.imsglobal\.org\/vocab\/lis\/v2\/membership(#(Instructor|Administrator|ContentDeveloper)|\/Instructor#\w+)$/;

/** A launch refused: the sentence reaches the person who clicked the course link. */
const refusal = (sentence: string) => new AppError('UNAUTHENTICATED', sentence);

/** A launch whose ID token was verified against its registration. */
export interface VerifiedLaunch {
  platform: LtiPlatformRow;
  /** The platform's id of the person (`sub`). */
  subject: string;
  email: string | undefined;
  name: string | undefined;
  /** Their role in the tenant, from the LTI roles claim. */
  role: Exclude<TenantRole, 'admin'>;
  /** The course (LTI context; the resource link when the platform sends no context). */
  course: { id: string; label: string };
}

/**
 * The tool side of an LTI 1.3 launch (OpenID Connect third-party login, then a signed ID token
 * posted by the platform): {@link begin} answers the login initiation with the authentication
 * request (a single-use state and nonce kept in Postgres, so any replica can finish it);
 * {@link finish} takes that state once and verifies the token against the registration named by
 * its issuer, client id and deployment id: RS256 signature by the registration's key set,
 * issuer, audience (and `azp`), expiry, nonce, LTI version, message type and resource link.
 */
export class LtiLaunches {
  #keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(private readonly knex: Knex) {}

  /** Answers a login initiation: the platform URL to send the browser to, and the state. */
  async begin(
    params: Record<string, unknown>,
    launchUrl: string,
  ): Promise<{ redirectUrl: string; state: string }> {
    const issuer = textOf(params.iss);
    const loginHint = textOf(params.login_hint);
    if (!issuer || !loginHint || !textOf(params.target_link_uri)) {
      throw refusal(
        'The learning platform started the launch without iss, login_hint or target_link_uri.',
      );
    }
    const clientId = textOf(params.client_id);
    const deploymentId = textOf(params.lti_deployment_id);
    const candidates: LtiPlatformRow[] = await this.knex<LtiPlatformRow>('lti_platforms')
      .where({ issuer })
      .modify((query) => {
        if (clientId) query.where({ client_id: clientId });
        if (deploymentId) query.where({ deployment_id: deploymentId });
      });
    if (candidates.length === 0) {
      throw refusal(
        `No class on this Labvisor has registered the learning platform ${issuer}${clientId ? ` with the client id ${clientId}` : ''}. Ask your class's admin to register it.`,
      );
    }
    const platform = candidates[0]!;
    if (candidates.some((other) => other.client_id !== platform.client_id)) {
      throw refusal(
        `Several client ids of ${issuer} are registered here; the platform must send client_id with the launch.`,
      );
    }
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(24).toString('base64url');
    const now = Date.now();
    await this.knex('lti_launch_states').where('expires_at', '<', new Date(now)).del();
    await this.knex('lti_launch_states').insert({
      state_hash: hashOf(state),
      issuer,
      client_id: platform.client_id,
      nonce,
      expires_at: new Date(now + LTI_STATE_TTL_MS),
    });
    const url = new URL(platform.authorization_url);
    const query: Record<string, string> = {
      scope: 'openid',
      response_type: 'id_token',
      response_mode: 'form_post',
      prompt: 'none',
      client_id: platform.client_id,
      redirect_uri: launchUrl,
      login_hint: loginHint,
      state,
      nonce,
    };
    const messageHint = textOf(params.lti_message_hint);
    if (messageHint) query.lti_message_hint = messageHint;
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return { redirectUrl: url.href, state };
  }

  /**
   * Verifies the platform's post (`id_token`, `state`); `startedHere` says whether this browser
   * holds the state's cookie (set by {@link begin}'s answer), so a launch cannot be finished in
   * another browser than the one that started it.
   */
  async finish(form: Record<string, unknown>, startedHere: boolean): Promise<VerifiedLaunch> {
    const platformError = textOf(form.error);
    if (platformError) {
      throw refusal(
        `The learning platform refused the launch: ${textOf(form.error_description) ?? platformError}.`,
      );
    }
    const idToken = textOf(form.id_token);
    const state = textOf(form.state);
    if (!idToken || !state) throw refusal('The learning platform sent no id_token or no state.');
    const pending = await takeLaunchState(this.knex, hashOf(state));
    if (!pending) {
      throw refusal(
        'This launch is unknown, already used or too old. Open the lab again from your course.',
      );
    }
    if (!startedHere) {
      throw refusal(
        'This launch was started in another browser (or this one refused its cookie). Open the lab again from your course.',
      );
    }
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(idToken);
    } catch {
      throw refusal('The launch token is not a signed JWT.');
    }
    const deploymentId = textOf(unverified[`${CLAIM}deployment_id`]);
    const platform = await this.knex<LtiPlatformRow>('lti_platforms')
      .where({
        issuer: pending.issuer,
        client_id: pending.client_id,
        deployment_id: deploymentId ?? '',
      })
      .first();
    if (!platform) {
      throw refusal(
        `The deployment "${deploymentId ?? ''}" of ${pending.issuer} is not registered with Labvisor.`,
      );
    }
    const claims = await this.#verify(idToken, platform);
    if (claims.nonce !== pending.nonce) {
      throw refusal('The launch token answers another launch (its nonce differs).');
    }
    return launchOf(platform, claims);
  }

  /** The token's claims once its signature, issuer, audience and times are checked. */
  async #verify(idToken: string, platform: LtiPlatformRow): Promise<JWTPayload> {
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(idToken, this.#keySetOf(platform.key_set_url), {
        issuer: platform.issuer,
        audience: platform.client_id,
        algorithms: ['RS256'],
        clockTolerance: 30,
        requiredClaims: ['exp', 'iat', 'sub', 'nonce'],
      }));
    } catch (error) {
      throw verificationRefusal(error);
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (audiences.length > 1 && claims.azp !== platform.client_id) {
      throw refusal('The launch token names several audiences but not Labvisor as its azp.');
    }
    return claims;
  }

  #keySetOf(url: string): ReturnType<typeof createRemoteJWKSet> {
    let keySet = this.#keySets.get(url);
    if (!keySet) {
      keySet = createRemoteJWKSet(new URL(url), {
        timeoutDuration: 5000,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
      });
      this.#keySets.set(url, keySet);
    }
    return keySet;
  }
}

/** What a verified token says, checked as an LTI 1.3 resource link launch. */
function launchOf(platform: LtiPlatformRow, claims: JWTPayload): VerifiedLaunch {
  if (claims[`${CLAIM}version`] !== '1.3.0') {
    throw refusal('The launch is not LTI 1.3 (its version claim is not 1.3.0).');
  }
  const messageType = claims[`${CLAIM}message_type`];
  if (messageType !== 'LtiResourceLinkRequest') {
    throw refusal(
      `Labvisor opens labs from course links only (LtiResourceLinkRequest), not ${String(messageType)}.`,
    );
  }
  const resourceLink = objectOf(claims[`${CLAIM}resource_link`]);
  const resourceLinkId = textOf(resourceLink?.id);
  if (!resourceLinkId) throw refusal('The launch names no resource link.');
  const subject = textOf(claims.sub);
  if (!subject) throw refusal('The launch does not say who you are; Labvisor needs a user id.');
  const roles = claims[`${CLAIM}roles`];
  if (!Array.isArray(roles)) throw refusal('The launch carries no roles claim.');
  const context = objectOf(claims[`${CLAIM}context`]);
  const email = textOf(claims.email)?.toLowerCase();
  const name =
    textOf(claims.name) ??
    ([textOf(claims.given_name), textOf(claims.family_name)].filter(Boolean).join(' ') ||
      undefined);
  return {
    platform,
    subject,
    email: email && /^[^@\s]+@[^@\s]+$/.test(email) && email.length <= 254 ? email : undefined,
    name,
    role: roles.some((role) => typeof role === 'string' && STAFF_ROLE.test(role))
      ? 'instructor'
      : 'member',
    course: {
      id: textOf(context?.id) ?? resourceLinkId,
      label: textOf(context?.label) ?? textOf(context?.title) ?? 'course',
    },
  };
}

/** The sentence of a token that failed verification (or UNAVAILABLE when the key set is out of reach). */
function verificationRefusal(error: unknown): AppError {
  if (error instanceof joseErrors.JWTExpired)
    return refusal('The launch token has expired. Open the lab again from your course.');
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return refusal(`The launch token's ${error.claim} claim is not valid for this platform.`);
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWTInvalid
  ) {
    return refusal("The launch token is not signed by a key of the platform's key set.");
  }
  return new AppError(
    'UNAVAILABLE',
    "The learning platform's key set cannot be read now; try the launch again in a minute.",
    undefined,
    { cause: error },
  );
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function hashOf(state: string): string {
  return createHash('sha256').update(state).digest('hex');
}
