DROP INDEX "kb_chunks_embedding_idx";--> statement-breakpoint
ALTER TABLE "kb_chunks" ADD COLUMN "in_vector_index" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "knowledge_bases" ADD COLUMN "vector_index" text DEFAULT 'none' NOT NULL;--> statement-breakpoint
ALTER TABLE "knowledge_bases" ADD CONSTRAINT "knowledge_bases_vector_index_check" CHECK ("knowledge_bases"."vector_index" IN ('none', 'building', 'ready'));--> statement-breakpoint
-- Knowledge bases already past the exact-scan threshold (10,000 chunks) stay searchable by HNSW;
-- their rows are marked before the index is built, which is far cheaper than inserting them one by one.
UPDATE "knowledge_bases" k SET "vector_index" = 'ready' WHERE (SELECT count(*) FROM "kb_chunks" c WHERE c."kb_id" = k."id") >= 10000;--> statement-breakpoint
UPDATE "kb_chunks" c SET "in_vector_index" = true FROM "knowledge_bases" k WHERE k."id" = c."kb_id" AND k."vector_index" = 'ready';--> statement-breakpoint
CREATE INDEX "kb_chunks_embedding_idx" ON "kb_chunks" USING hnsw (("embedding"::vector(384)) vector_cosine_ops) WHERE "kb_chunks"."embedding_dimensions" = 384 AND "kb_chunks"."in_vector_index";
--> statement-breakpoint
-- Per-dimension indexes made on first use (kb_chunks_embedding_<N>_idx) take the same predicate.
DO $$
DECLARE
  r record;
  d int;
BEGIN
  FOR r IN SELECT indexname FROM pg_indexes WHERE tablename = 'kb_chunks' AND indexname ~ '^kb_chunks_embedding_[0-9]+_idx$' LOOP
    d := substring(r.indexname FROM 'kb_chunks_embedding_([0-9]+)_idx')::int;
    EXECUTE format('DROP INDEX %I', r.indexname);
    EXECUTE format('CREATE INDEX %I ON kb_chunks USING hnsw ((embedding::%s(%s)) %s) WHERE embedding_dimensions = %s AND in_vector_index',
      r.indexname, CASE WHEN d > 2000 THEN 'halfvec' ELSE 'vector' END, d, CASE WHEN d > 2000 THEN 'halfvec_cosine_ops' ELSE 'vector_cosine_ops' END, d);
  END LOOP;
END $$;
