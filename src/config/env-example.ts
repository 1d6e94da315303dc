import { envSchema } from './config.schema';

export const COMPOSE_SECTION_HEADER = '# ---- Compose-only (read by docker-compose.yml, not by the app) ----';
export const PM2_SECTION_HEADER = '# ---- PM2-only (read by ecosystem.config.js, not by the app) ----';

/** The defaults as they would be written in a .env file (what `envSchema` fills in for an empty env). */
export function envDefaults(): Record<string, string> {
  const parsed = envSchema.parse({}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = parsed[key];
    out[key] = v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}

export function envDescriptions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, schema] of Object.entries(envSchema.shape)) out[key] = (schema as { description?: string }).description ?? '';
  return out;
}

/** The app's part of .env.example, generated from the schema so the two cannot drift. */
export function renderAppEnvExample(): string {
  const defaults = envDefaults();
  const descriptions = envDescriptions();
  const lines = [
    '# Hearth configuration. Copy to .env; every variable is optional in development.',
    '# Generated from src/config/config.schema.ts by `npm run cli -- config env-example`; a test keeps them in sync.',
    '',
  ];
  for (const key of Object.keys(envSchema.shape)) {
    const def = defaults[key] ?? '';
    lines.push(`# ${key}: ${def === '' ? '(unset)' : def} — ${descriptions[key]}`);
    lines.push(`${key}=${def}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface EnvExampleEntry {
  name: string;
  value: string;
  section: 'app' | 'compose' | 'pm2';
}

export function parseEnvExample(text: string): EnvExampleEntry[] {
  const entries: EnvExampleEntry[] = [];
  let section: EnvExampleEntry['section'] = 'app';
  for (const line of text.split('\n')) {
    if (line.trim() === COMPOSE_SECTION_HEADER) section = 'compose';
    if (line.trim() === PM2_SECTION_HEADER) section = 'pm2';
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) entries.push({ name: m[1]!, value: m[2]!, section });
  }
  return entries;
}
