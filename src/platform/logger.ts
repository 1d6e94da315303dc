import winston from 'winston';
import { getContext } from './request-context';

export type Logger = winston.Logger;

// Keys whose values must never reach a log line, whatever a caller passes as metadata. Anchored, so
// counters such as `promptTokens` or `total_tokens` stay visible.
const SECRET_KEY = /^(pass|pass(word|wd|phrase).*|.*[-_]?(secret|password)|(.*[-_])?token|.*(Token|Secret|Password)|authorization|cookies?|set-cookie|api[-_]?key|.*ApiKey|dsn|credentials?|body|params)$/i;

/**
 * drizzle's query errors read "Failed query: <sql>\nparams: <values>": the values can be anything a
 * user typed (or a password hash), so they are cut; the driver's reason is kept from `cause`.
 */
export function safeErrorMessage(message: string): string {
  return message.replace(/\nparams:[\s\S]*$/, '');
}

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[truncated]';
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: safeErrorMessage(value.message), stack: value.stack && safeErrorMessage(value.stack) };
    if (value.cause !== undefined) out.cause = redact(value.cause, depth + 1);
    const code = (value as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

const contextFormat = winston.format((info) => {
  const ctx = getContext();
  if (ctx) {
    info.requestId ??= ctx.requestId;
    if (ctx.userId) info.userId ??= ctx.userId;
  }
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    if (SECRET_KEY.test(key)) info[key] = '[redacted]';
    else info[key] = redact(info[key]);
  }
  return info;
});

export function createLogger(opts: { level: string; silent?: boolean; stream?: NodeJS.WritableStream }): Logger {
  const transport = opts.stream
    ? new winston.transports.Stream({ stream: opts.stream })
    : new winston.transports.Console({ stderrLevels: [] });
  return winston.createLogger({
    level: opts.level,
    silent: opts.silent,
    defaultMeta: { pid: process.pid },
    format: winston.format.combine(contextFormat(), winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [transport],
  });
}
