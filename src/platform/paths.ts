import fs from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/** The folder holding package.json, whether we run from src/ (tsx, jest) or dist/src/ (node). */
export function projectRoot(): string {
  if (root) return root;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${__dirname}`);
    dir = parent;
  }
  root = dir;
  return dir;
}

export const migrationsFolder = (): string => path.join(projectRoot(), 'migrations');
export const webDistFolder = (): string => path.join(projectRoot(), 'dist', 'web');

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
