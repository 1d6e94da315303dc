ALTER TABLE "kb_chunks" ADD COLUMN "embedding_model" text DEFAULT '' NOT NULL;--> statement-breakpoint
UPDATE "kb_chunks" c SET "embedding_model" = k."embedding_model" FROM "knowledge_bases" k WHERE k."id" = c."kb_id";
