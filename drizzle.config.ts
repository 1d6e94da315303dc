import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/platform/*/*.schema.ts', './src/platform/db/schema.ts', './src/modules/*/*.schema.ts'],
  out: './migrations',
  // Same table drizzle-orm's migrator writes; the readiness check reads it too.
  migrations: { table: '__drizzle_migrations', schema: 'drizzle' },
});
