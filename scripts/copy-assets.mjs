// tsc compiles code only; data files that modules read at run time (src/**/data/*) are copied beside
// the compiled code so dist/ (and the Docker image) is complete.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (!d.isDirectory()) return [];
    return d.name === 'data' ? [p] : walk(p);
  });
for (const dir of walk(path.join(root, 'src'))) {
  const target = path.join(root, 'dist', path.relative(root, dir));
  fs.cpSync(dir, target, { recursive: true });
  console.log(`copied ${path.relative(root, dir)} -> ${path.relative(root, target)}`);
}
