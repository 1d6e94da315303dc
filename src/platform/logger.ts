import winston from 'winston';
import { getContext } from './request-context';

export type Logger = winston.Logger;

// Keys whose values must never reach a log line, whatever a caller passes as metadata.
const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|dsn|credential|^body$/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
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
