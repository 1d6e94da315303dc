import fs from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler } from 'express';

const API_PREFIXES = ['/api/', '/v1/', '/health/', '/metrics'];

/**
 * Serves the built web UI (in Compose nginx serves the same files). Hashed assets are cached for a
 * year; index.html never, so a deploy is picked up at once. Unknown non-API paths get index.html
 * (client-side routing).
 */
export function webUi(root: string): RequestHandler[] {
  const index = path.join(root, 'index.html');
  const serve = express.static(root, {
    index: false,
    setHeaders: (res, file) => {
      if (file.startsWith(path.join(root, 'assets') + path.sep)) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      else res.setHeader('Cache-Control', 'no-cache');
    },
  });
  const fallback: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (API_PREFIXES.some((p) => req.path === p.replace(/\/$/, '') || req.path.startsWith(p))) return next();
    if (!req.accepts('html') || !fs.existsSync(index)) return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  };
  return [serve, fallback];
}
