import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import * as Sentry from '@sentry/node';
import { runWithContext } from '../request-context';

// nginx's $request_id is 32 hex characters; accept any sane token so a caller's own id survives,
// but never let a header inject arbitrary text into logs.
const VALID = /^[A-Za-z0-9._:-]{8,128}$/;

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
  }
}

export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && VALID.test(incoming) ? incoming : crypto.randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    Sentry.getIsolationScope().setTag('request_id', id);
    runWithContext({ requestId: id }, next);
  };
}
