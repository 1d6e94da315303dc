ALTER TABLE "ai_usage" ADD COLUMN "price_known" boolean DEFAULT true NOT NULL;--> statement-breakpoint
-- List prices (USD per million tokens) of common models as published by OpenAI and Anthropic,
-- effective from 2025-01-01 here; admins add newer rows (a later effective_from wins). The built-in
-- providers cost nothing and are priced at 0, so their rows are known, not unpriced.
INSERT INTO "model_prices" ("provider", "model", "input_per_million", "output_per_million", "effective_from") VALUES
  ('openai', 'gpt-4o', 2.50, 10.00, '2025-01-01T00:00:00Z'),
  ('openai', 'gpt-4o-mini', 0.15, 0.60, '2025-01-01T00:00:00Z'),
  ('openai', 'gpt-4.1', 2.00, 8.00, '2025-01-01T00:00:00Z'),
  ('openai', 'gpt-4.1-mini', 0.40, 1.60, '2025-01-01T00:00:00Z'),
  ('openai', 'gpt-4.1-nano', 0.10, 0.40, '2025-01-01T00:00:00Z'),
  ('openai', 'o3', 2.00, 8.00, '2025-01-01T00:00:00Z'),
  ('openai', 'o4-mini', 1.10, 4.40, '2025-01-01T00:00:00Z'),
  ('openai', 'gpt-3.5-turbo', 0.50, 1.50, '2025-01-01T00:00:00Z'),
  ('openai', 'text-embedding-3-small', 0.02, 0, '2025-01-01T00:00:00Z'),
  ('openai', 'text-embedding-3-large', 0.13, 0, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-opus-4-1', 15.00, 75.00, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-opus-4-0', 15.00, 75.00, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-sonnet-4-5', 3.00, 15.00, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-sonnet-4-0', 3.00, 15.00, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-3-7-sonnet-latest', 3.00, 15.00, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-3-5-haiku-latest', 0.80, 4.00, '2025-01-01T00:00:00Z'),
  ('anthropic', 'claude-3-haiku-20240307', 0.25, 1.25, '2025-01-01T00:00:00Z'),
  ('extractive', 'extractive', 0, 0, '2025-01-01T00:00:00Z'),
  ('local', 'hashing-v1', 0, 0, '2025-01-01T00:00:00Z'),
  ('local', 'hashing-v2', 0, 0, '2025-01-01T00:00:00Z')
ON CONFLICT ("provider", "model", "effective_from") DO NOTHING;
--> statement-breakpoint
-- Rows recorded before this migration: unpriced unless a price was in force when they were made.
UPDATE "ai_usage" u SET "price_known" = false
WHERE NOT EXISTS (SELECT 1 FROM "model_prices" p WHERE p."provider" = u."provider" AND p."model" = u."model" AND p."effective_from" <= u."created_at");
