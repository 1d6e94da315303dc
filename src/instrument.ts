import fs from 'node:fs';
import * as Sentry from '@sentry/node';

/**
 * Imported first by main.ts: Sentry must be initialised before Express and pg are loaded so it can
 * instrument them. Reads the environment directly because the validated config is built later;
 * a malformed SENTRY_DSN is reported by the config check.
 */

// A .env file in the working directory is read when present (Compose passes variables directly).
if (fs.existsSync('.env')) process.loadEnvFile('.env');

const dsn = process.env.SENTRY_DSN?.trim();
if (dsn && /^https?:\/\//.test(dsn)) {
  Sentry.init({
    dsn,
    environment: process.env.NODE_ENV ?? 'development',
    tracesSampleRate: 0,
    sendDefaultPii: false,
    // Request bodies, cookies and credentials never leave the server.
    beforeSend(event) {
      // drizzle's messages carry the query's parameters after "\nparams:"; they stay on the server.
      for (const ex of event.exception?.values ?? []) if (ex.value) ex.value = ex.value.replace(/\nparams:[\s\S]*$/, '');
      if (event.request) {
        delete event.request.data;
        delete event.request.cookies;
        if (event.request.headers) {
          for (const h of Object.keys(event.request.headers)) if (/authorization|cookie|x-csrf-token/i.test(h)) delete event.request.headers[h];
        }
      }
      return event;
    },
  });
}
