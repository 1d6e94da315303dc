import express, { type RequestHandler, type Router } from 'express';
import { z } from '../zod';
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { validate } from '../http/validate';
import { singleUpload } from '../http/upload';


export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseDef {
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json when a schema is given. */
  contentType?: string;
}

/** Who may call a route; the router enforces it before validating input. */
export type Access = 'public' | 'member' | 'admin';

export interface RouteDef {
  method: HttpMethod;
  access: Access;
  /** Full Express path, e.g. `/api/knowledge-bases/:id`. */
  path: string;
  summary: string;
  tags: string[];
  request?: { body?: z.ZodType; query?: z.ZodObject; params?: z.ZodObject };
  responses: Record<number, ResponseDef>;
  /** Security schemes that accept this route; empty = public. */
  security?: ('bearer' | 'cookie' | 'apiKey' | 'metricsToken')[];
  /**
   * Whether an API key may call this route, and with which scope (`any` = every key). Unset: only
   * an interactive sign-in (cookie or access token) may.
   */
  apiKeyScope?: string;
  /** Also accepts multipart/form-data with one file in `field` (the other fields are the body). */
  upload?: { field: string; maxBytes: number; description?: string };
}

export const ErrorBodySchema = z
  .object({
    error: z.object({ code: z.string().openapi({ example: 'validation-failed' }), message: z.string(), details: z.unknown().optional() }),
    requestId: z.string(),
  })
  .openapi('Error');

/** `/api/x/:id` → `/api/x/{id}` */
export const toOpenApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/**
 * Every route is declared through here: the declaration feeds both the OpenAPI document and the
 * request validation, so the two cannot say different things. Routes are registered with their
 * full path on routers mounted at the root, which keeps the Express route table readable
 * (see route-table.ts) for the test that compares it with the document.
 */
export class ApiDocs {
  readonly registry = new OpenAPIRegistry();
  /** Set by the auth module: the middleware that enforces `member` and `admin` access. */
  guards?: Record<Exclude<Access, 'public'>, (def: RouteDef) => RequestHandler>;

  constructor() {
    this.registry.register('Error', ErrorBodySchema);
    this.registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    this.registry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'An API key (hk_…) as a bearer token' });
    this.registry.registerComponent('securitySchemes', 'cookie', { type: 'apiKey', in: 'cookie', name: '__Host-hearth_at' });
    this.registry.registerComponent('securitySchemes', 'metricsToken', { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN' });
  }

  router(): ApiRouter {
    return new ApiRouter(this);
  }

  private cached?: { key: string; doc: ReturnType<OpenApiGeneratorV31['generateDocument']>; json?: string };

  register(def: RouteDef): void {
    this.cached = undefined;
    const responses: RouteConfig['responses'] = {};
    for (const [status, r] of Object.entries(def.responses)) {
      responses[status] = r.schema
        ? { description: r.description, content: { [r.contentType ?? 'application/json']: { schema: r.schema } } }
        : { description: r.description };
    }
    responses.default ??= { description: 'Error', content: { 'application/json': { schema: ErrorBodySchema } } };
    this.registry.registerPath({
      method: def.method,
      path: toOpenApiPath(def.path),
      summary: def.summary,
      tags: def.tags,
      security: (def.security ?? (def.access === 'public' ? [] : def.apiKeyScope ? ['cookie', 'bearer', 'apiKey'] : ['cookie', 'bearer'])).map((s) => ({ [s]: [] })),
      request: {
        params: def.request?.params,
        query: def.request?.query,
        body: def.request?.body
          ? {
              content: {
                'application/json': { schema: def.request.body },
                ...(def.upload
                  ? { 'multipart/form-data': { schema: z.object({ [def.upload.field]: z.string().openapi({ format: 'binary', description: def.upload.description ?? `at most ${def.upload.maxBytes} bytes` }) }).passthrough() } }
                  : {}),
              },
              required: true,
            }
          : undefined,
      },
      responses,
    });
  }

  /** Built once (it takes milliseconds for every route) and rebuilt only after a new route registers. */
  document(info: { version: string; serverUrl?: string }): ReturnType<OpenApiGeneratorV31['generateDocument']> {
    const key = `${info.version}|${info.serverUrl ?? ''}`;
    if (this.cached?.key === key) return this.cached.doc;
    const doc = new OpenApiGeneratorV31(this.registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: { title: 'Hearth API', version: info.version, description: 'Self-hosted AI agent platform. Errors are `{ error: { code, message, details? }, requestId }`.' },
      servers: info.serverUrl ? [{ url: info.serverUrl }] : undefined,
    });
    this.cached = { key, doc };
    return doc;
  }

  /** The document as JSON text, serialised once per build of the document. */
  documentJson(info: { version: string; serverUrl?: string }): string {
    const doc = this.document(info);
    this.cached!.json ??= JSON.stringify(doc);
    return this.cached!.json;
  }
}

export class ApiRouter {
  readonly router: Router = express.Router();

  constructor(private readonly docs: ApiDocs) {}

  /** Mounts `guard → validate → handlers`: who may call comes before what they sent. */
  route(def: RouteDef, ...handlers: RequestHandler[]): this {
    this.docs.register(def);
    const chain: RequestHandler[] = [];
    if (def.access !== 'public') {
      const guard = this.docs.guards?.[def.access];
      if (!guard) throw new Error(`${def.method.toUpperCase()} ${def.path} needs '${def.access}' access but no auth guards are installed`);
      chain.push(guard(def));
    }
    if (def.upload) chain.push(singleUpload(def.upload.field, def.upload.maxBytes));
    if (def.request) chain.push(validate(def.request));
    this.router[def.method](def.path, ...chain, ...handlers);
    return this;
  }
}
