/**
 * `tsx bulk-load.ts <direct database url> '<json [{ name, chunks, firstSeed }]>'`: bulkLoad in a
 * process of its own, printing the knowledge-base ids as JSON. Tests call it because under jest's
 * module sandbox the local embedder runs about ten times slower than in plain Node, which turns a
 * 20-second load of 50k chunks into minutes.
 */
import { Client } from 'pg';
import { bulkLoad, syntheticEmbedder } from './synthetic';

async function main() {
  const [url, spec] = process.argv.slice(2);
  if (!url || !spec) throw new Error("usage: tsx bulk-load.ts <database url> '<json [{ name, chunks, firstSeed }]>'");
  const c = new Client({ connectionString: url, application_name: 'hearth-bulk-load' });
  await c.connect();
  try {
    const embedder = syntheticEmbedder();
    const ids = await bulkLoad(c, JSON.parse(spec) as { name: string; chunks: number; firstSeed: number }[], (s) => embedder.embedOne(s));
    process.stdout.write(`${JSON.stringify(ids)}\n`);
  } finally {
    await c.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
