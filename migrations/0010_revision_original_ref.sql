ALTER TABLE "kb_revisions" ADD COLUMN "original_revision_id" uuid;--> statement-breakpoint
ALTER TABLE "kb_revisions" ADD CONSTRAINT "kb_revisions_original_revision_id_kb_revisions_id_fk" FOREIGN KEY ("original_revision_id") REFERENCES "public"."kb_revisions"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
-- Copies made before this migration (restores, re-indexes) repeated their source's bytes: each now
-- points at the earliest revision of its entry holding the same bytes (which keeps them) instead.
UPDATE "kb_revisions" c SET "original_revision_id" = (
  SELECT s."id" FROM "kb_revisions" s
  WHERE s."entry_id" = c."entry_id" AND s."number" < c."number" AND s."original" IS NOT NULL AND s."original" = c."original"
  ORDER BY s."number" LIMIT 1)
WHERE c."original" IS NOT NULL AND (c."reindex" OR c."restored_from" IS NOT NULL);--> statement-breakpoint
UPDATE "kb_revisions" SET "original" = NULL WHERE "original_revision_id" IS NOT NULL AND "original" IS NOT NULL;
