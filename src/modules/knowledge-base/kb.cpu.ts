import path from 'node:path';
import { Piscina } from 'piscina';
import type { Chunk } from './kb.chunker';
import { chunkText } from './kb.chunker';
import type { CpuTask } from './kb.cpu.worker';

/**
 * Where ingestion's CPU-only work runs: worker threads (piscina) when INGEST_THREADS > 0, else this
 * thread. Chunking and hashing were most of what the event loop did during ingestion, so with them
 * in a thread of their own the main thread keeps to the database and the API, and on a 2-core
 * machine the two overlap (bench/ingest.ts).
 */
export interface CpuPool {
  chunk(text: string): Promise<Chunk[]>;
  /** The local embedder's vectors for these texts, computed off this thread. */
  embedLocal(settings: { model: string; dimensions: number; language: string }, texts: string[]): Promise<number[][]>;
  close(): Promise<void>;
}

/** Under ts-node/jest/tsx the worker is the .ts source, which the thread loads through tsx; built, it is the .js beside this file. */
function workerFile(): { filename: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  const filename = path.join(__dirname, `kb.cpu.worker${ext}`);
  return { filename, execArgv: ext === '.ts' ? ['--import', 'tsx'] : [] };
}

export function createCpuPool(threads: number): CpuPool | undefined {
  if (threads <= 0) return undefined;
  const { filename, execArgv } = workerFile();
  // Threads start on first use and leave after a minute idle: an instance that ingests nothing pays nothing.
  const pool = new Piscina({ filename, execArgv, minThreads: 0, maxThreads: threads, idleTimeout: 60_000 });
  return {
    chunk: (text) => pool.run({ kind: 'chunk', text } satisfies CpuTask) as Promise<Chunk[]>,
    async embedLocal(s, texts) {
      const flat = (await pool.run({ kind: 'embed', ...s, texts } satisfies CpuTask)) as Float64Array;
      return texts.map((_, i) => Array.from(flat.subarray(i * s.dimensions, (i + 1) * s.dimensions)));
    },
    close: () => pool.destroy(),
  };
}

/** Chunking where the pool is, or here. */
export const chunkWith = (pool: CpuPool | undefined, text: string): Promise<Chunk[]> => (pool ? pool.chunk(text) : Promise.resolve(chunkText(text)));
