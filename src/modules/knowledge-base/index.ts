// Knowledge bases (#4). So far: the built-in `local` embedder; storage, ingestion and search follow.
export { LocalEmbedder, normalise, words } from './kb.embedder.local';
