import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { envSchema } from './config.schema';
import { COMPOSE_SECTION_HEADER, parseEnvExample, renderAppEnvExample, envDefaults } from './env-example';
import { projectRoot } from '../platform/paths';

const root = projectRoot();
const envExample = fs.readFileSync(path.join(root, '.env.example'), 'utf8');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return /\.(ts|js)$/.test(d.name) && !d.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('.env.example', () => {
  it('when compared with the configuration schema, then its app section is exactly the generated one (names, defaults, meanings)', () => {
    const appPart = envExample.split(COMPOSE_SECTION_HEADER)[0]!.trimEnd() + '\n';
    expect(appPart).toBe(renderAppEnvExample());
    const entries = parseEnvExample(envExample).filter((e) => e.section === 'app');
    const defaults = envDefaults();
    expect(entries.map((e) => e.name).sort()).toEqual(Object.keys(envSchema.shape).sort());
    for (const e of entries) expect([e.name, e.value]).toEqual([e.name, defaults[e.name]]);
  });

  it('when the source reads process.env, then every name it reads is in the schema (and so in .env.example)', () => {
    const names = new Set<string>();
    for (const file of sourceFiles(path.join(root, 'src'))) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]!);
      for (const m of text.matchAll(/process\.env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)) names.add(m[1]!);
    }
    // Set by PM2 itself, not by the operator.
    const setByRuntime = new Set(['NODE_APP_INSTANCE']);
    const documented = new Set(parseEnvExample(envExample).map((e) => e.name));
    const missing = [...names].filter((n) => !setByRuntime.has(n) && !documented.has(n));
    expect(missing).toEqual([]);
  });

  it('when ecosystem.config.js reads a variable, then .env.example lists it in its PM2 section', () => {
    const text = fs.readFileSync(path.join(root, 'ecosystem.config.js'), 'utf8');
    const read = [...text.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);
    expect(read.length).toBeGreaterThan(0);
    const pm2 = parseEnvExample(envExample).filter((e) => e.section === 'pm2').map((e) => e.name);
    expect(read.filter((n) => !pm2.includes(n))).toEqual([]);
  });

  it('when docker-compose.yml interpolates a variable, then .env.example lists it (Compose-only unless the app reads it too)', () => {
    const compose = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    YAML.parse(compose); // must at least be valid YAML
    const used = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(0);
    const entries = parseEnvExample(envExample);
    const missing = [...used].filter((n) => !entries.some((e) => e.name === n));
    expect(missing).toEqual([]);
    const composeOnly = entries.filter((e) => e.section === 'compose').map((e) => e.name);
    for (const n of composeOnly) expect(Object.keys(envSchema.shape)).not.toContain(n);
  });
});
