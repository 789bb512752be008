import {
  API_ROUTES,
  emptyBodySchema,
  pathParamNames,
  type RouteAnswer,
  type RouteInput,
  type RouteName,
  type RouteSpec,
} from '@labvisor/shared';
import type { Request, Response, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { Actor } from '../domain/auth/access.js';
import { actorOf } from './auth/authentication.js';
import { parseIdParam, parseInput } from './validate.js';

/** A handler's answer with another status than its route's (a dry run, a 503 readiness). */
export class Answer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** What a handler returns when it wrote the answer itself (a redirect, a file, a stream). */
class Answered {}
export const ANSWERED = new Answered();

/** What a handler gets besides its parsed input: the request, the response and who acts. */
export interface HandlerContext<R extends RouteSpec> {
  req: Request;
  res: Response;
  /** The signed-in actor with their tenant roles; undefined on public routes. */
  actor: R['access'] extends 'signed-in' ? Actor : undefined;
  /** The client's address (behind a trusted proxy, the forwarded one). */
  ip: string | undefined;
}

type HandlerResult<R extends RouteSpec> = RouteAnswer<R> | Answer | Answered;

/** Serves one route: its parsed input in, its answer out. */
export type Handler<R extends RouteSpec> = (
  input: RouteInput<R>,
  context: HandlerContext<R>,
) => Promise<HandlerResult<R>> | HandlerResult<R>;

/** Handlers of the named routes (all of them by default: a missing one does not compile). */
export type Handlers<N extends RouteName = RouteName> = {
  [K in N]: Handler<(typeof API_ROUTES)[K]>;
};

const API_PREFIX = '/api/v1';
const noQuerySchema = z.strictObject({});

/**
 * Mounts every route of {@link API_ROUTES} with its handler: API routes on `api` (mounted at
 * `/api/v1`, behind the session and authentication middleware), the others (health, metrics) on
 * `root`. Each request's path parameters, query and body are parsed strictly by the route's
 * schemas (400 VALIDATION naming each field), signed-in routes load the actor (401 otherwise),
 * and with `checkAnswers` each JSON answer is checked against the route's response schema.
 */
export function mountRoutes(
  targets: { root: Router; api: Router },
  handlers: Handlers,
  options: { knex: Knex; checkAnswers: boolean },
): void {
  for (const [name, route] of Object.entries(API_ROUTES) as [RouteName, RouteSpec][]) {
    const handler = handlers[name] as Handler<RouteSpec>;
    const isApi = route.path.startsWith(`${API_PREFIX}/`);
    const target = isApi ? targets.api : targets.root;
    const path = isApi ? route.path.slice(API_PREFIX.length) : route.path;
    target[route.method](path, async (req: Request, res: Response) => {
      // Who asks first (401), then whether the request is well formed (400), then the handler.
      const actor = route.access === 'signed-in' ? await actorOf(req, options.knex) : undefined;
      const input = parseRequest(route, req);
      const context = { req, res, actor, ip: req.ip } as HandlerContext<RouteSpec>;
      const result = await handler(input, context);
      if (result === ANSWERED) return;
      if (result instanceof Answer) {
        res.status(result.status);
        return void (result.body === undefined ? res.end() : res.json(result.body));
      }
      if (route.status === 204 || route.response === undefined)
        return void res.status(route.status).end();
      if (options.checkAnswers) checkAnswer(name, route.response, result);
      res.status(route.status).json(result);
    });
  }
}

/** The route's input from the request, each part parsed strictly. */
function parseRequest(route: RouteSpec, req: Request): RouteInput<RouteSpec> {
  const params: Record<string, string> = {};
  for (const name of pathParamNames(route.path))
    params[name] = parseIdParam(req.params as Record<string, string>, name);
  const query = parseInput(route.query ?? noQuerySchema, req.query, 'query');
  let body: unknown;
  if (route.body) {
    body = parseInput(route.body, req.body);
    req.body = body;
  } else if (route.method !== 'get' && !route.binaryBody) {
    parseInput(emptyBodySchema, req.body);
  }
  return { params, query, body } as RouteInput<RouteSpec>;
}

/** Fails loudly (500, and the log says why) when an answer breaks the route's declared schema. */
function checkAnswer(name: RouteName, schema: z.ZodType, answer: unknown): void {
  const result = schema.safeParse(answer);
  if (result.success) return;
  throw new Error(
    `The answer of ${name} does not match its declared schema: ${z.prettifyError(result.error)}`,
  );
}
