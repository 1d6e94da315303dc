CREATE TABLE "kb_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text DEFAULT 'ingest' NOT NULL,
	"kb_id" uuid NOT NULL,
	"entry_id" uuid NOT NULL,
	"revision_id" uuid NOT NULL,
	"user_id" uuid,
	"status" text DEFAULT 'queued' NOT NULL,
	"stage" text DEFAULT 'queued' NOT NULL,
	"done" integer DEFAULT 0 NOT NULL,
	"total" integer DEFAULT 0 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "kb_jobs_status_check" CHECK ("kb_jobs"."status" IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	CONSTRAINT "kb_jobs_stage_check" CHECK ("kb_jobs"."stage" IN ('queued', 'chunking', 'embedding', 'indexing', 'done'))
);
--> statement-breakpoint
CREATE TABLE "ai_usage" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid,
	"agent_id" uuid,
	"conversation_id" uuid,
	"message_id" uuid,
	"api_key_id" uuid,
	"kb_id" uuid,
	"kind" text NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"prompt_tokens" integer DEFAULT 0 NOT NULL,
	"completion_tokens" integer DEFAULT 0 NOT NULL,
	"total_tokens" integer DEFAULT 0 NOT NULL,
	"reserved_tokens" integer DEFAULT 0 NOT NULL,
	"cost" numeric(20, 10) DEFAULT '0' NOT NULL,
	"source" text DEFAULT 'reported' NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"latency_ms" integer,
	"ttft_ms" integer,
	"owner_process" text,
	"idempotency_key" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "ai_usage_kind_check" CHECK ("ai_usage"."kind" IN ('chat', 'embedding', 'title')),
	CONSTRAINT "ai_usage_source_check" CHECK ("ai_usage"."source" IN ('reported', 'estimated')),
	CONSTRAINT "ai_usage_status_check" CHECK ("ai_usage"."status" IN ('pending', 'complete', 'aborted', 'error', 'interrupted')),
	CONSTRAINT "ai_usage_tokens_check" CHECK ("ai_usage"."prompt_tokens" >= 0 AND "ai_usage"."completion_tokens" >= 0 AND "ai_usage"."total_tokens" >= 0 AND "ai_usage"."reserved_tokens" >= 0)
);
--> statement-breakpoint
CREATE TABLE "ai_usage_daily" (
	"day" date NOT NULL,
	"user_id" uuid,
	"agent_id" uuid,
	"kind" text NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"total_tokens" bigint DEFAULT 0 NOT NULL,
	"cost" numeric(20, 10) DEFAULT '0' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_usage_daily_key" UNIQUE NULLS NOT DISTINCT("day","user_id","agent_id","kind","provider","model")
);
--> statement-breakpoint
CREATE TABLE "model_prices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"input_per_million" numeric(20, 10) NOT NULL,
	"output_per_million" numeric(20, 10) NOT NULL,
	"currency" text DEFAULT 'USD' NOT NULL,
	"effective_from" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_prices_nonnegative_check" CHECK ("model_prices"."input_per_million" >= 0 AND "model_prices"."output_per_million" >= 0)
);
--> statement-breakpoint
DROP INDEX "kb_chunks_revision_idx";--> statement-breakpoint
ALTER TABLE "kb_revisions" ADD COLUMN "format" text DEFAULT 'txt' NOT NULL;--> statement-breakpoint
ALTER TABLE "kb_revisions" ADD COLUMN "source_url" text;--> statement-breakpoint
ALTER TABLE "kb_revisions" ADD COLUMN "restored_from" integer;--> statement-breakpoint
ALTER TABLE "kb_jobs" ADD CONSTRAINT "kb_jobs_kb_id_knowledge_bases_id_fk" FOREIGN KEY ("kb_id") REFERENCES "public"."knowledge_bases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "kb_jobs" ADD CONSTRAINT "kb_jobs_entry_id_kb_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."kb_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "kb_jobs" ADD CONSTRAINT "kb_jobs_revision_id_kb_revisions_id_fk" FOREIGN KEY ("revision_id") REFERENCES "public"."kb_revisions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "kb_jobs" ADD CONSTRAINT "kb_jobs_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_usage" ADD CONSTRAINT "ai_usage_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ai_usage" ADD CONSTRAINT "ai_usage_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_prices" ADD CONSTRAINT "model_prices_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "kb_jobs_user_idx" ON "kb_jobs" USING btree ("user_id","updated_at");--> statement-breakpoint
CREATE INDEX "kb_jobs_active_idx" ON "kb_jobs" USING btree ("status","lease_until") WHERE "kb_jobs"."status" IN ('queued', 'running');--> statement-breakpoint
CREATE INDEX "kb_jobs_revision_idx" ON "kb_jobs" USING btree ("revision_id");--> statement-breakpoint
CREATE INDEX "ai_usage_user_agent_idx" ON "ai_usage" USING btree ("user_id","agent_id");--> statement-breakpoint
CREATE INDEX "ai_usage_created_idx" ON "ai_usage" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "ai_usage_pending_idx" ON "ai_usage" USING btree ("owner_process") WHERE "ai_usage"."status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "ai_usage_idempotency_idx" ON "ai_usage" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "ai_usage_daily_day_idx" ON "ai_usage_daily" USING btree ("day");--> statement-breakpoint
CREATE UNIQUE INDEX "model_prices_key_idx" ON "model_prices" USING btree ("provider","model","effective_from");--> statement-breakpoint
CREATE UNIQUE INDEX "kb_chunks_revision_idx" ON "kb_chunks" USING btree ("revision_id","ordinal");