/// <reference lib="dom" />
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from '../../src/platform/paths';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/test-stack.sh up installs Debian's chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/**
 * What a page did that it must not: dialogs (an injected alert), requests to any origin but
 * Hearth's own (a remote image, a beacon), script errors and CSP violations on the console.
 */
export function watch(page: Page, ownOrigin: string) {
  const dialogs: string[] = [];
  const foreignRequests: string[] = [];
  const problems: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(ownOrigin) && !url.startsWith('data:') && !url.startsWith('blob:')) foreignRequests.push(url);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[0134]|status of 409|status of 422|status of 429|status of 503/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return { dialogs, foreignRequests, problems };
}

export async function newContext(browser: Browser, width = 1200, height = 800, colorScheme: 'light' | 'dark' = 'light'): Promise<BrowserContext> {
  // The test stack's certificate is self-signed; the TLS handshake itself is checked in test/stack.
  return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width, height }, colorScheme, permissions: ['clipboard-read', 'clipboard-write'] });
}

/**
 * `body` on a page of a fresh browser context; afterwards nothing foreign happened on it (no
 * dialog, no request off `origin`, no console error or page error: see watch), and the context is
 * closed whether `body` passed or not.
 */
export async function onPage(browser: Browser, origin: string, size: { width?: number; height?: number; colorScheme?: 'light' | 'dark' }, body: (page: Page) => Promise<void>): Promise<void> {
  const context = await newContext(browser, size.width, size.height, size.colorScheme);
  try {
    const page = await context.newPage();
    const seen = watch(page, origin);
    await body(page);
    expect(seen).toEqual({ dialogs: [], foreignRequests: [], problems: [] });
  } finally {
    await context.close();
  }
}

const shots = path.join(projectRoot(), 'reports', 'screenshots');
/** Screenshots are test artifacts (reports/screenshots), looked at by a person before a UI change is done. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
}

/** axe-core in the page (evaluated, so the page's CSP does not apply); serious and critical findings. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const source = fs.readFileSync(path.join(projectRoot(), 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.evaluate(source);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
