import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../platform/errors';
import type { Principal } from '../auth';
import type { KbEntriesService } from './kb.entries.service';
import type { KnowledgeBaseService } from './kb.service';

/** What a folder import reads; anything else in the folder is left alone (and counted as skipped). */
export const IMPORTABLE = new Set(['.txt', '.md', '.markdown', '.html', '.htm', '.pdf', '.docx', '.csv', '.json']);

export interface ImportProgress {
  phase: 'files' | 'indexing';
  done: number;
  total: number;
}

export interface ImportReport {
  created: number;
  updated: number;
  unchanged: number;
  skipped: number;
  failed: { file: string; code: string; message: string }[];
  jobs: { succeeded: number; failed: number };
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    if (d.isFile()) out.push(path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name));
  }
  return out.sort();
}

/**
 * Imports every supported file of a folder into a knowledge base: a file becomes the entry titled
 * with its path inside the folder, so a second run finds it again, and an unchanged file creates
 * no revision (the entries service compares content). Then waits for the indexing jobs.
 */
export async function importFolder(deps: { kbs: KnowledgeBaseService; entries: KbEntriesService }, p: Principal, kbRef: string, folder: string, onProgress: (p: ImportProgress) => void = () => {}): Promise<ImportReport & { kbId: string }> {
  const { knowledgeBases } = await deps.kbs.list(p, { limit: 200, offset: 0 });
  const matches = knowledgeBases.filter((k) => k.id === kbRef || k.name === kbRef);
  if (matches.length !== 1) throw new AppError(404, 'knowledge-base-not-found', matches.length ? `Several knowledge bases are called "${kbRef}": use its id.` : `No knowledge base "${kbRef}" that this account can see.`);
  const kbId = matches[0]!.id;
  const all = await filesUnder(path.resolve(folder));
  const files = all.filter((f) => IMPORTABLE.has(path.extname(f).toLowerCase()));
  const report: ImportReport = { created: 0, updated: 0, unchanged: 0, skipped: all.length - files.length, failed: [], jobs: { succeeded: 0, failed: 0 } };
  const jobs: string[] = [];
  const origin = { ip: null, userAgent: 'hearth-cli' };
  for (const [i, file] of files.entries()) {
    const title = path.relative(path.resolve(folder), file).split(path.sep).join('/');
    try {
      const upload = { bytes: await fs.readFile(file), originalName: path.basename(file), mimeType: 'application/octet-stream' };
      const existing = await deps.entries.entryIdByTitle(p, kbId, title);
      if (existing) {
        const r = await deps.entries.revise(p, kbId, existing, { upload }, origin);
        if (r.unchanged) report.unchanged += 1;
        else report.updated += 1;
        if (r.job) jobs.push(r.job.id);
      } else {
        const r = await deps.entries.create(p, kbId, { title, upload }, origin);
        report.created += 1;
        jobs.push(r.job.id);
      }
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      report.failed.push({ file: title, code: err.code, message: err.message });
    }
    onProgress({ phase: 'files', done: i + 1, total: files.length });
  }
  const pending = new Set(jobs);
  onProgress({ phase: 'indexing', done: 0, total: jobs.length });
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const job = await deps.entries.job(p, id);
      if (job.status === 'queued' || job.status === 'running') continue;
      pending.delete(id);
      if (job.status === 'succeeded') report.jobs.succeeded += 1;
      else report.jobs.failed += 1;
    }
    onProgress({ phase: 'indexing', done: jobs.length - pending.size, total: jobs.length });
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
  }
  return { ...report, kbId };
}
