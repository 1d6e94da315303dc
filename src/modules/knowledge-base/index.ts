// Knowledge bases (#4): knowledge bases, entries and immutable revisions, parsing, chunking,
// embedding, durable ingestion jobs with progress, and hybrid search.
import { Client } from 'pg';
import type { Config } from '../../config';
import type { Database } from '../../platform/db/client';
import type { ApiDocs } from '../../platform/openapi';
import type { AuditService } from '../../platform/audit/audit.service';
import type { JobQueue } from '../../platform/jobs/queue';
import type { Logger } from '../../platform/logger';
import { AppError } from '../../platform/errors';
import { UsageRecorder } from '../usage';
import { KbRepository, type KnowledgeBaseRow } from './kb.repository';
import { createVectorIndexSql, KbEntriesRepository } from './kb.entries.repository';
import { KnowledgeBaseService } from './kb.service';
import { KbEntriesService } from './kb.entries.service';
import { Ingestor } from './kb.ingest';
import { JobEvents } from './kb.job-events';
import { createCpuPool } from './kb.cpu';
import { createEmbedder, type Embedder } from './kb.embedder';
import { DEFAULT_LOCAL_MODEL } from './kb.embedder.local';
import { kbRoutes } from './kb.routes';
import { importFolder } from './kb.import';

export { LocalEmbedder, normalise, stopwordsFor, words } from './kb.embedder.local';
export { chunkText, type Chunk, type ChunkOptions } from './kb.chunker';
export { hybridSearch, type SearchHit } from './kb.search';
export { knowledgeBases } from './kb.schema';
export type { KnowledgeBaseService } from './kb.service';
export { createEmbedder, type Embedder } from './kb.embedder';
export { importFolder, IMPORTABLE, type ImportProgress, type ImportReport } from './kb.import';

/** The embedding a new knowledge base is created with (from EMBEDDING_* and KB_LANGUAGE). */
export function embeddingDefaults(config: Config) {
  return {
    embeddingProvider: config.embedding.provider,
    embeddingModel: config.embedding.provider === 'local' ? DEFAULT_LOCAL_MODEL : config.embedding.model!,
    embeddingDimensions: config.embedding.dimensions,
    language: config.kbLanguage,
  };
}

export interface KnowledgeBaseModuleDeps {
  config: Config;
  database: Database;
  audit: AuditService;
  logger: Logger;
  queue: JobQueue;
  /** Aborted at shutdown: progress streams end, workers give their jobs back. */
  signal: AbortSignal;
}

export function createKnowledgeBaseModule(deps: KnowledgeBaseModuleDeps) {
  const { config } = deps;
  const db = deps.database.db;
  const usage = new UsageRecorder(db);
  const cpu = createCpuPool(config.ingest.threads);
  const embedderFor = (kb: KnowledgeBaseRow): Embedder => {
    if (kb.embeddingProvider === 'local') return createEmbedder({ provider: 'local', model: kb.embeddingModel, dimensions: kb.embeddingDimensions, language: kb.language, pool: cpu });
    if (kb.embeddingProvider === 'openai' && config.embedding.provider === 'openai' && config.embedding.baseUrl) {
      return createEmbedder({ provider: 'openai', model: kb.embeddingModel, dimensions: kb.embeddingDimensions, baseUrl: config.embedding.baseUrl, apiKey: config.embedding.apiKey, timeoutMs: config.embedding.timeoutMs, batchSize: config.embedding.batchSize });
    }
    throw new AppError(422, 'embedding-provider-not-configured', `This knowledge base is embedded with '${kb.embeddingProvider}' (${kb.embeddingModel}), which is not configured on this instance (EMBEDDING_PROVIDER, EMBEDDING_BASE_URL).`);
  };
  const entriesRepo = new KbEntriesRepository(db);
  // Index DDL goes over the direct connection when there is one (never through PgBouncer), once per
  // size and process, and CONCURRENTLY on PostgreSQL: ingestion into other sizes goes on meanwhile.
  const ensured = new Set<number>([384]);
  const ensureVectorIndex = async (dimensions: number) => {
    if (ensured.has(dimensions)) return;
    if (deps.database.kind === 'pglite' || !config.db.migrationUrl) await entriesRepo.ensureVectorIndex(dimensions);
    else {
      const client = new Client({ connectionString: config.db.migrationUrl, application_name: 'hearth-index' });
      await client.connect();
      try {
        const name = `kb_chunks_embedding_${dimensions}_idx`;
        const exists = await client.query('SELECT 1 FROM pg_indexes WHERE tablename = $1 AND indexname = $2', ['kb_chunks', name]);
        if (exists.rowCount === 0) await client.query(createVectorIndexSql(dimensions).replace('CREATE INDEX IF NOT EXISTS', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS'));
      } finally {
        await client.end();
      }
    }
    ensured.add(dimensions);
  };
  const service = new KnowledgeBaseService(new KbRepository(db), deps.audit, embeddingDefaults(config), db, { embedderFor, usage, ensureVectorIndex, exactScanMaxChunks: config.ingest.exactScanMaxChunks, logger: deps.logger });
  const ingestor = new Ingestor({ repo: entriesRepo, queue: deps.queue, usage, embedderFor, cpu, logger: deps.logger, settings: config.ingest });
  const entries = new KbEntriesService(entriesRepo, service, ingestor, deps.audit, { uploadMaxBytes: config.limits.uploadMaxBytes, urlImport: config.urlImport });
  const events = new JobEvents(entriesRepo, deps.logger);
  return {
    service,
    entries,
    ingestor,
    routes: (docs: ApiDocs) => kbRoutes(docs, service, entries, events, { uploadMaxBytes: config.limits.uploadMaxBytes, signal: deps.signal }),
    /** Imports a folder (the CLI): the module's services act for `p`. */
    importFolder: (p: Parameters<typeof importFolder>[1], kbRef: string, folder: string, onProgress?: Parameters<typeof importFolder>[4]) => importFolder({ kbs: service, entries }, p, kbRef, folder, onProgress),
    start: () => ingestor.start(),
    stop: async () => {
      events.stop();
      await ingestor.stop();
      await cpu?.close();
    },
  };
}
export type KnowledgeBaseModule = ReturnType<typeof createKnowledgeBaseModule>;
