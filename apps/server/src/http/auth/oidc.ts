import { isLoopbackHost } from '@labvisor/shared';
import type { Knex } from 'knex';
import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { OidcSettings } from '../../config.js';
import { recordAudit } from '../../db/queries/audit.js';
import { findUserByEmail, touchLastLogin, type UserRow } from '../../db/queries/users.js';
import { applyJoinRules, createSsoAccount } from '../../domain/auth/sso-provisioning.js';
import { AppError } from '../../errors.js';

declare module 'express-session' {
  interface SessionData {
    oidc?: { state: string; nonce: string; codeVerifier: string };
  }
}

/** Where the provider sends the browser back to. */
export const OIDC_CALLBACK_PATH = '/api/v1/auth/oidc/callback';

/**
 * OpenID Connect sign-in (authorization code flow with PKCE, state and nonce). Users are matched
 * to existing Labvisor accounts by their verified email; nobody is created by signing in.
 */
export class OidcSignIn {
  #configuration: Promise<client.Configuration> | undefined;

  constructor(
    private readonly settings: OidcSettings,
    private readonly knex: Knex,
    private readonly logger: Logger,
  ) {}

  /** Discovers the provider once; a failure is retried at the next sign-in. */
  #configure(): Promise<client.Configuration> {
    this.#configuration ??= client
      .discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        this.settings.clientSecret,
        undefined,
        {
          // A provider on plain http is accepted only on the loopback interface (development, tests).
          execute: isLoopbackHost(new URL(this.settings.issuer).hostname)
            ? [client.allowInsecureRequests]
            : [],
        },
      )
      .catch((error: unknown) => {
        this.#configuration = undefined;
        this.logger.warn(
          { err: error, issuer: this.settings.issuer },
          'OpenID Connect discovery failed',
        );
        throw new AppError(
          'UNAVAILABLE',
          'The single sign-on provider cannot be reached. Try again later.',
          undefined,
          { cause: error },
        );
      });
    return this.#configuration;
  }

  /** The provider URL to send the browser to, with the flow's secrets kept in the session. */
  async start(
    session: { oidc?: { state: string; nonce: string; codeVerifier: string } },
    callbackUrl: string,
  ): Promise<string> {
    const configuration = await this.#configure();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    session.oidc = { state, nonce, codeVerifier };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: callbackUrl,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return url.href;
  }

  /** Completes the flow from the callback URL; returns the Labvisor user of the verified email. */
  async finish(
    session: { oidc?: { state: string; nonce: string; codeVerifier: string } },
    currentUrl: URL,
    ip: string | undefined,
  ): Promise<UserRow> {
    const pending = session.oidc;
    session.oidc = undefined;
    if (!pending)
      throw new AppError(
        'UNAUTHENTICATED',
        'The sign-in took too long or was started elsewhere; try again.',
      );
    const configuration = await this.#configure();
    let claims: Record<string, unknown> | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
      });
      const idToken = tokens.claims();
      // Providers that keep the ID token small give the email only at the userinfo endpoint.
      claims =
        idToken && idToken.email === undefined
          ? await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub)
          : idToken;
    } catch (error) {
      this.logger.warn({ err: error }, 'OpenID Connect callback refused');
      throw new AppError(
        'UNAUTHENTICATED',
        'The single sign-on answer was not valid; try again.',
        undefined,
        { cause: error },
      );
    }
    const email = typeof claims?.email === 'string' ? claims.email.toLowerCase() : undefined;
    const subject = typeof claims?.sub === 'string' ? claims.sub : undefined;
    if (!email || !subject || claims?.email_verified !== true) {
      throw new AppError('FORBIDDEN', 'Your single sign-on account has no verified email address.');
    }
    const provisioning = this.settings.provisioning;
    let user = await this.#userOf(email, subject);
    if (!user && provisioning?.createAccounts) {
      user = await createSsoAccount(this.knex, {
        email,
        name: typeof claims?.name === 'string' ? claims.name : undefined,
        issuer: this.settings.issuer,
        subject,
      });
    }
    if (user && !user.disabled && provisioning && provisioning.joinRules.length > 0) {
      const groups = Array.isArray(claims?.groups)
        ? claims.groups.filter((group): group is string => typeof group === 'string')
        : [];
      await applyJoinRules(this.knex, this.logger, provisioning.joinRules, user, groups);
    }
    if (!user || user.disabled) {
      await recordAudit(this.knex, {
        actorId: null,
        action: 'auth.login.failed',
        ip,
        details: { email, via: 'oidc' },
      });
      throw new AppError(
        'FORBIDDEN',
        `There is no Labvisor account for ${email}. Ask your administrator to add you.`,
      );
    }
    await touchLastLogin(this.knex, user.id);
    await recordAudit(this.knex, {
      actorId: user.id,
      action: 'auth.login',
      targetType: 'user',
      targetId: user.id,
      ip,
      details: { via: 'oidc' },
    });
    return user;
  }

  /**
   * The user of a provider identity: the one bound to its subject, else the one with its verified
   * email, which the identity then binds. An account bound to another identity is refused.
   */
  async #userOf(email: string, subject: string): Promise<UserRow | undefined> {
    const issuer = this.settings.issuer;
    const bound = await this.knex<UserRow>('users')
      .where({ oidc_issuer: issuer, oidc_subject: subject })
      .first();
    if (bound) return bound;
    const user = await findUserByEmail(this.knex, email);
    if (!user) return undefined;
    if (boundElsewhere(user, issuer, subject)) {
      throw new AppError(
        'FORBIDDEN',
        `The Labvisor account of ${email} belongs to another single sign-on identity.`,
      );
    }
    await this.knex('users')
      .where({ id: user.id })
      .update({ oidc_issuer: issuer, oidc_subject: subject });
    return { ...user, oidc_issuer: issuer, oidc_subject: subject };
  }
}

/** Whether a stored user is bound to a single sign-on identity other than this one. */
function boundElsewhere(user: UserRow, issuer: string, subject: string): boolean {
  return (
    user.oidc_subject !== null && (user.oidc_issuer !== issuer || user.oidc_subject !== subject)
  );
}
