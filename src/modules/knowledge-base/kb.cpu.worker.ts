/**
 * Runs in a worker thread (kb.cpu.ts): the CPU-only steps of ingestion, chunking a revision and
 * hashing its chunks with the local embedder, so that the event loop serving requests and talking
 * to the database (on PGlite, the database itself) is not the one doing them. Imports nothing but
 * the chunker and the embedder.
 */
import { chunkText, type Chunk } from './kb.chunker';
import { LocalEmbedder } from './kb.embedder.local';

export type CpuTask = { kind: 'chunk'; text: string } | { kind: 'embed'; model: string; dimensions: number; language: string; texts: string[] };

const embedders = new Map<string, LocalEmbedder>();

export default function run(task: CpuTask): Chunk[] | Float64Array {
  if (task.kind === 'chunk') return chunkText(task.text);
  const key = `${task.model}:${task.dimensions}:${task.language}`;
  let e = embedders.get(key);
  if (!e) embedders.set(key, (e = LocalEmbedder.forModel(task.model, task.dimensions, task.language)));
  // One flat buffer: it crosses back to the main thread as a copy of bytes, not as arrays of numbers.
  const out = new Float64Array(task.texts.length * task.dimensions);
  task.texts.forEach((t, i) => out.set(e.embedOne(t), i * task.dimensions));
  return out;
}
