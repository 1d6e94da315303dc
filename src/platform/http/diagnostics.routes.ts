import { z } from '../zod';
import type { ApiDocs } from '../openapi';
import { validated } from './validate';

const streamQuery = z.object({
  events: z.coerce.number().int().min(1).max(100).default(5),
  intervalMs: z.coerce.number().int().min(0).max(10_000).default(500),
});
const slowQuery = z.object({ ms: z.coerce.number().int().min(0).max(60_000).default(1000) });

/**
 * Probes for the stack tests (DIAGNOSTICS_ROUTES=true only): a server-sent event stream to prove
 * nginx does not buffer, a slow request to prove shutdown lets in-flight work finish, and an
 * unexpected failure to prove 5xx answers hide details and reach Sentry with the request id.
 */
export function diagnosticsRoutes(docs: ApiDocs) {
  const api = docs.router();
  api.route(
    {
      method: 'get',
      access: 'public',
      path: '/api/diagnostics/stream',
      summary: 'Server-sent events: `events` ticks, `intervalMs` apart',
      tags: ['diagnostics'],
      request: { query: streamQuery },
      responses: { 200: { description: 'An SSE stream', schema: z.string(), contentType: 'text/event-stream' } },
    },
    (req, res) => {
      const { query } = validated<{ query: typeof streamQuery }>(req);
      res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.flushHeaders();
      let sent = 0;
      const tick = () => {
        res.write(`event: tick\ndata: ${JSON.stringify({ n: sent, at: Date.now() })}\n\n`);
        sent += 1;
        if (sent >= query.events) {
          res.write('event: done\ndata: {}\n\n');
          res.end();
          return;
        }
        timer = setTimeout(tick, query.intervalMs);
      };
      let timer = setTimeout(tick, 0);
      res.on('close', () => clearTimeout(timer));
    },
  );
  api.route(
    {
      method: 'get',
      access: 'public',
      path: '/api/diagnostics/slow',
      summary: 'Answers after `ms` milliseconds',
      tags: ['diagnostics'],
      request: { query: slowQuery },
      responses: { 200: { description: 'Done', schema: z.object({ waitedMs: z.number() }) } },
    },
    async (req, res) => {
      const { query } = validated<{ query: typeof slowQuery }>(req);
      await new Promise((r) => setTimeout(r, query.ms));
      res.json({ waitedMs: query.ms });
    },
  );
  api.route(
    {
      method: 'get',
      access: 'public',
      path: '/api/diagnostics/error',
      summary: 'Fails with an unexpected error (500)',
      tags: ['diagnostics'],
      responses: { 500: { description: 'Internal error, details hidden' } },
    },
    () => {
      throw new Error('diagnostics: deliberate unexpected failure');
    },
  );
  return api.router;
}
