import type { RequestHandler } from 'express';
import { z } from '../zod';
import { ValidationError } from '../errors';

export interface RequestSchemas {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Parsed and typed by `validate`; routes read these instead of req.body/query/params. */
    valid: { body?: unknown; query?: unknown; params?: unknown };
  }
}

/** Field paths and messages the caller can act on, e.g. `{ field: "email", message: "…" }`. */
export function zodDetails(error: z.ZodError, where: string) {
  return error.issues.map((i) => ({ field: [where, ...i.path.map(String)].join('.'), message: i.message, code: i.code }));
}

export function validate(schemas: RequestSchemas): RequestHandler {
  return (req, _res, next) => {
    const details: ReturnType<typeof zodDetails> = [];
    const valid: Request['valid'] = {};
    for (const where of ['params', 'query', 'body'] as const) {
      const schema = schemas[where];
      if (!schema) continue;
      const result = schema.safeParse(req[where] ?? {});
      if (result.success) valid[where] = result.data;
      else details.push(...zodDetails(result.error, where));
    }
    if (details.length > 0) {
      const fields = [...new Set(details.map((d) => d.field))].join(', ');
      next(new ValidationError(`Invalid request: ${fields}.`, details));
      return;
    }
    req.valid = valid;
    next();
  };
}

type Request = import('express').Request;

/** Typed access to what `validate` parsed. */
export function validated<T extends RequestSchemas>(req: Request): { [K in keyof T]: T[K] extends z.ZodType ? z.infer<T[K]> : never } {
  return req.valid as never;
}
