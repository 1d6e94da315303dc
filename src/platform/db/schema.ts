/**
 * Platform tables (shared by every module). Module tables live in src/modules/<m>/<m>.schema.ts;
 * drizzle.config.ts collects all of them for `npm run db:generate`.
 */
export {};
