// Knowledge bases (#4). So far: storage (kb.schema), knowledge-base CRUD, the built-in `local`
// embedder, the chunker and hybrid search; entries and ingestion jobs follow.
import type { Config } from '../../config';
import type { Db } from '../../platform/db/client';
import type { ApiDocs } from '../../platform/openapi';
import type { AuditService } from '../../platform/audit/audit.service';
import { KbRepository } from './kb.repository';
import { KnowledgeBaseService } from './kb.service';
import { kbRoutes } from './kb.routes';

export { LocalEmbedder, normalise, words } from './kb.embedder.local';
export { chunkText, type Chunk, type ChunkOptions } from './kb.chunker';
export { hybridSearch, type SearchHit } from './kb.search';

/** The embedding a new knowledge base is created with (from EMBEDDING_* and KB_LANGUAGE). */
export function embeddingDefaults(config: Config) {
  return {
    embeddingProvider: config.embedding.provider,
    embeddingModel: config.embedding.provider === 'local' ? 'hashing-v1' : config.embedding.model!,
    embeddingDimensions: config.embedding.dimensions,
    language: config.kbLanguage,
  };
}

export function createKnowledgeBaseModule(deps: { config: Config; db: Db; audit: AuditService }) {
  const service = new KnowledgeBaseService(new KbRepository(deps.db), deps.audit, embeddingDefaults(deps.config), deps.db);
  return { service, routes: (docs: ApiDocs) => kbRoutes(docs, service) };
}
