import { defineConfig } from 'vite';
import path from 'node:path';

// The UI is served by Express (dist/web) and, in Compose, by nginx; both send a CSP without
// 'unsafe-inline', so the build must not inline scripts or styles.
export default defineConfig({
  root: path.resolve(import.meta.dirname),
  base: '/',
  build: {
    outDir: path.resolve(import.meta.dirname, '../dist/web'),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    proxy: { '/api': 'http://localhost:3000', '/health': 'http://localhost:3000', '/v1': 'http://localhost:3000' },
  },
});
