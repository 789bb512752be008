import { z } from 'zod';
import { errorBodySchema } from '../errors.js';
import { API_ROUTES, pathParamNames, type RouteSpec } from './routes.js';

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

const ERROR_ANSWERS =
  'An error: VALIDATION 400, UNAUTHENTICATED 401, FORBIDDEN 403, NOT_FOUND 404, CONFLICT / QUOTA_EXCEEDED / INVALID_STATE 409, PAYLOAD_TOO_LARGE 413, RATE_LIMITED 429, UNAVAILABLE 503';

/** One answer of an operation: its description and, when JSON, its schema. */
function answer(description: string, response: z.ZodType | undefined, produces?: string) {
  if (response)
    return { description, content: { 'application/json': { schema: jsonSchema(response) } } };
  if (produces?.includes('/')) return { description, content: { [produces]: {} } };
  return { description: produces ?? description };
}

/** The OpenAPI operation of one route. */
function operationOf(route: RouteSpec): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = pathParamNames(route.path).map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string', format: 'uuid' },
  }));
  for (const [name, field] of Object.entries(route.query?.shape ?? {})) {
    const schema = field as z.ZodType;
    parameters.push({
      name,
      in: 'query',
      required: !schema.safeParse(undefined).success,
      schema: jsonSchema(schema),
    });
  }
  const requestBody = route.body
    ? { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } }
    : route.binaryBody
      ? {
          required: true,
          description: route.binaryBody,
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        }
      : undefined;
  const responses: Record<string, unknown> = {
    [route.status]: answer(
      route.status === 204 ? 'Done' : 'Success',
      route.response,
      route.produces,
    ),
  };
  for (const [status, other] of Object.entries(route.otherAnswers ?? {}))
    responses[status] = answer(other.description, other.response);
  responses.default = answer(ERROR_ANSWERS, errorBodySchema);
  return {
    summary: route.summary,
    ...(parameters.length ? { parameters } : {}),
    ...(route.access === 'public' ? { security: [] } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of the HTTP API, generated from {@link API_ROUTES}. */
export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of Object.values(API_ROUTES) as RouteSpec[]) {
    const openApiPath = route.path.replace(/:(\w+)/g, '{$1}');
    paths[openApiPath] ??= {};
    paths[openApiPath][route.method] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Labvisor API', version: '1' },
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'labvisor.sid' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
    security: [{ session: [] }, { bearer: [] }],
    paths,
  };
}
