import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { projectRoot } from '../../src/platform/paths';
import { requireStack, startApp, type AppProcess } from '../support/stack';

const CHROMIUM = '/usr/bin/chromium';

describe('web UI in Chromium', () => {
  const stack = requireStack();
  let app: AppProcess;
  let browser: Browser;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/test-stack.sh up installs Debian's chromium`);
    app = await startApp(stack, stack.appPort);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('when a person opens Hearth through nginx, then the page shows the product and a ready system, with no CSP violation or script error', async () => {
    // The test stack's certificate is self-signed; the TLS handshake itself is checked in test/stack.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(msg.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
    const response = await page.goto(stack.httpsUrl, { waitUntil: 'networkidle' });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

    await expect(page.title()).resolves.toBe('Hearth');
    await page.getByRole('heading', { name: 'Hearth' }).waitFor();
    const status = page.getByTestId('readiness-status');
    await status.waitFor();
    expect(await status.textContent()).toBe('Ready');
    const checks = await page.locator('.checks li .name').allTextContents();
    expect(checks).toEqual(expect.arrayContaining(['database', 'migrations', 'redis']));

    const shots = path.join(projectRoot(), 'reports');
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'web-home.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });
});
