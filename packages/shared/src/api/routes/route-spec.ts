import type { z } from 'zod';

/**
 * One operation of the HTTP API, as data: the server's one router mounts it with strict parsing,
 * the OpenAPI document is generated from it and the portal's client is typed by it.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express-style path, e.g. `/api/v1/tenants/:tenantId`; every `:param` is a UUID. */
  path: string;
  summary: string;
  /** `public`: anyone; `signed-in`: a session or an API token (401 otherwise). */
  access: 'public' | 'signed-in';
  /** Query parameters; absent: none are accepted. */
  query?: z.ZodObject;
  /** The JSON body; absent: none (or `{}`) is accepted. */
  body?: z.ZodType;
  /** A body of raw bytes (`application/octet-stream`) instead of JSON: what the bytes are. */
  binaryBody?: string;
  /** The success answer (JSON); absent with 204, or when `produces` names another type. */
  response?: z.ZodType;
  /** The success status. */
  status: 200 | 201 | 202 | 204 | 302;
  /** What a non-JSON success answer is (a redirect, a file, Prometheus text). */
  produces?: string;
  /** Other answers than the success one and the errors, for the OpenAPI document. */
  otherAnswers?: Record<number, { description: string; response?: z.ZodType }>;
}

/** Keeps a route's literal types (its path, its schemas) for typed handlers and clients. */
export const route = <const R extends RouteSpec>(spec: R): R => spec;

/** The `:param` names of a path, as an object type. */
export type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? { [K in Name]: string } & PathParams<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? { [K in Name]: string }
    : Record<never, never>;

type SchemaInput<S> = S extends z.ZodType ? z.input<S> : undefined;
type SchemaOutput<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a client sends to a route: its path parameters, query and JSON body. */
export interface RouteRequest<R extends RouteSpec> {
  params: PathParams<R['path']>;
  query: SchemaInput<R['query']>;
  body: SchemaInput<R['body']>;
}

/** What a route's handler receives, once parsed: path parameters, query and body. */
export interface RouteInput<R extends RouteSpec> {
  params: PathParams<R['path']>;
  query: SchemaOutput<R['query']>;
  body: SchemaOutput<R['body']>;
}

/** A route's success answer (nothing for 204 and non-JSON answers). */
export type RouteAnswer<R extends RouteSpec> = R['response'] extends z.ZodType
  ? z.output<R['response']>
  : // biome-ignore lint/suspicious/noConfusingVoidType: a handler of a route without an answer returns nothing
    void;

/** The names of a path's parameters, in order. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
}

/** A route's path with its parameters filled in (each URI-encoded). */
export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/:(\w+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`The path ${path} needs :${name}.`);
    return encodeURIComponent(value);
  });
}
