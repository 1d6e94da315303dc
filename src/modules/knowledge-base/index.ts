// Knowledge bases (#4). So far: storage (kb.schema), the built-in `local` embedder and the chunker;
// the API, ingestion jobs and hybrid search follow.
export { LocalEmbedder, normalise, words } from './kb.embedder.local';
export { chunkText, type Chunk, type ChunkOptions } from './kb.chunker';
