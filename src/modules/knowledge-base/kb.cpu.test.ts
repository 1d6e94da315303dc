import { chunkText } from './kb.chunker';
import { createCpuPool } from './kb.cpu';
import { LocalEmbedder } from './kb.embedder.local';

describe('CPU pool for ingestion (INGEST_THREADS)', () => {
  const text = `# Runbook\n\n## Restarts\n\n${'Restart the payment service on the primary node before the backup window. '.repeat(80)}\n\n## Backups\n\nBackups run nightly.`;

  it('when threads are configured, then chunks and local vectors from the thread are exactly those computed here', async () => {
    const pool = createCpuPool(1)!;
    try {
      const chunks = await pool.chunk(text);
      expect(chunks).toEqual(chunkText(text));
      const texts = chunks.map((c) => c.content);
      const vectors = await pool.embedLocal({ model: 'hashing-v2', dimensions: 384, language: 'english' }, texts);
      const here = LocalEmbedder.forModel('hashing-v2', 384, 'english');
      expect(vectors).toEqual(texts.map((t) => here.embedOne(t)));
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('when a task names an unknown local model, then the call fails with that error and the pool keeps working', async () => {
    const pool = createCpuPool(1)!;
    try {
      await expect(pool.embedLocal({ model: 'hashing-v9', dimensions: 384, language: 'english' }, ['a', 'b'])).rejects.toThrow(/unknown local embedding model 'hashing-v9'/);
      expect(await pool.chunk('Short text.')).toHaveLength(1);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('when no threads are configured, then there is no pool', () => {
    expect(createCpuPool(0)).toBeUndefined();
  });
});
