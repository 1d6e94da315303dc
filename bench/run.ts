/**
 * Benchmarks print figures; nothing here passes or fails on speed.
 * `npm run bench` runs every benchmark; `npm run bench -- http` one of them. `retrieval` needs the
 * real stack (scripts/test-stack.sh).
 */
import { httpPlatform } from './http-platform';
import { retrieval } from './retrieval';
import { ingest } from './ingest';
import { streamOverhead } from './stream-overhead';

const benches: Record<string, () => Promise<void>> = { http: httpPlatform, ingest, retrieval, 'stream-overhead': streamOverhead };

async function main() {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(benches);
  for (const name of names) {
    const bench = benches[name];
    if (!bench) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
    console.log(`\n# ${name}`);
    await bench();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
