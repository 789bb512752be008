import { LTI_PATHS } from '@labvisor/shared';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import type { Knex } from 'knex';
import type passport from 'passport';
import type { Logger } from 'pino';
import { recordAudit } from '../db/queries/audit.js';
import { touchLastLogin } from '../db/queries/users.js';
import { loadActor } from '../domain/auth/access.js';
import { openCourseLab } from '../domain/lti/course-labs.js';
import { enrolLtiPerson } from '../domain/lti/lti-enrolment.js';
import { LTI_STATE_TTL_MS, type LtiLaunches } from '../domain/lti/lti-launch.js';
import type { VmService } from '../domain/vms/vm-service.js';
import { AppError } from '../errors.js';
import { logIn } from './auth/authentication.js';
import { publicOriginOf } from './public-origin.js';

/** The cookie that ties a launch's state to the browser that started it. */
const stateCookieName = (state: string) => `labvisor.lti.${state.slice(0, 32)}`;

/**
 * The LTI 1.3 browser endpoints a learning platform is configured with (`LTI_PATHS`): the login
 * initiation answers with a redirect to the platform; the launch verifies the posted ID token,
 * signs the person in (account and membership made on their first launch) and sends a member to
 * their lab for the course, an instructor to the class. A refused launch lands on the sign-in
 * page with the reason, never on a JSON error. Form posts from the platform carry no CSRF token:
 * the single-use state, its cookie and the signed token protect them.
 */
export function ltiLaunchRouter(deps: {
  knex: Knex;
  launches: LtiLaunches;
  vms: VmService;
  sessionMiddleware: RequestHandler;
  passport: passport.PassportStatic;
  publicOrigin: string | undefined;
  logger: Logger;
}): Router {
  const router = Router();
  router.use(express.urlencoded({ extended: false, limit: '64kb' }));

  const login = async (req: Request, res: Response) => {
    const params = req.method === 'POST' ? req.body : req.query;
    const origin = publicOriginOf(req, deps.publicOrigin);
    const { redirectUrl, state } = await deps.launches.begin(
      params ?? {},
      origin + LTI_PATHS.launch,
    );
    // SameSite=None: the platform's form post back is a cross-site request.
    res.cookie(stateCookieName(state), '1', {
      httpOnly: true,
      secure: true,
      sameSite: 'none',
      maxAge: LTI_STATE_TTL_MS,
      path: LTI_PATHS.launch,
    });
    res.redirect(302, redirectUrl);
  };
  router.get(pathIn(LTI_PATHS.login), refusalsToSignIn(deps.logger, login));
  router.post(pathIn(LTI_PATHS.login), refusalsToSignIn(deps.logger, login));

  router.post(
    pathIn(LTI_PATHS.launch),
    deps.sessionMiddleware,
    deps.passport.initialize(),
    refusalsToSignIn(deps.logger, async (req, res) => {
      const form = (req.body ?? {}) as Record<string, unknown>;
      const state = typeof form.state === 'string' ? form.state : '';
      const cookie = stateCookieName(state);
      const startedHere = state !== '' && cookiesOf(req).has(cookie);
      res.clearCookie(cookie, { path: LTI_PATHS.launch, secure: true, sameSite: 'none' });
      const launch = await deps.launches.finish(form, startedHere);
      const { user, role } = await enrolLtiPerson(deps.knex, launch, req.ip);
      await logIn(req, user);
      req.session.csrfToken = undefined;
      await touchLastLogin(deps.knex, user.id);
      await recordAudit(deps.knex, {
        actorId: user.id,
        tenantId: launch.platform.tenant_id,
        action: 'auth.login',
        targetType: 'user',
        targetId: user.id,
        ip: req.ip,
        details: { via: 'lti', course: launch.course.id },
      });
      const tenantId = launch.platform.tenant_id;
      if (role !== 'member') return res.redirect(303, `/tenants/${tenantId}`);
      try {
        const actor = await loadActor(deps.knex, user);
        const vmId = await openCourseLab(
          deps.knex,
          deps.vms,
          actor,
          { platformId: launch.platform.id, tenantId, ...launch.course },
          req.ip,
        );
        res.redirect(303, `/vms/${vmId}`);
      } catch (error) {
        // Signed in, but no lab (quota, class hours, no default image): say why on My labs.
        if (!(error instanceof AppError)) throw error;
        res.redirect(303, `/?error=${encodeURIComponent(error.message)}`);
      }
    }),
  );
  return router;
}

/** The router mounts at `/lti`: each path inside it. */
function pathIn(path: string): string {
  return path.slice('/lti'.length);
}

/** Runs a launch step; a refusal (or a fault) sends the browser to the sign-in page with a sentence. */
function refusalsToSignIn(
  logger: Logger,
  step: (req: Request, res: Response) => Promise<unknown>,
): RequestHandler {
  return async (req, res) => {
    try {
      await step(req, res);
    } catch (error) {
      if (!(error instanceof AppError) || error.code === 'UNAVAILABLE')
        logger.warn({ err: error }, 'an LTI launch failed');
      const message =
        error instanceof AppError
          ? error.message
          : 'The launch from your course failed; open the lab again from your course.';
      if (!res.headersSent) res.redirect(303, `/login?error=${encodeURIComponent(message)}`);
    }
  };
}

/** The request's cookie names. */
function cookiesOf(req: Request): Set<string> {
  return new Set(
    (req.get('cookie') ?? '')
      .split(';')
      .map((pair) => pair.split('=')[0]!.trim())
      .filter(Boolean),
  );
}
