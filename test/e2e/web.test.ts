/// <reference lib="dom" />
import crypto from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { createDatabase, type Database } from '../../src/platform/db/client';
import { AuthRepository } from '../../src/modules/auth/auth.repository';
import { PasswordHasher } from '../../src/modules/auth/auth.passwords';
import { captureLogger } from '../support/test-app';
import { fakeOpenAi } from '../support/llm';
import { requireStack, startApp, waitFor, type AppProcess } from '../support/stack';
import { launchChromium, onPage, screenshot, seriousA11yViolations } from '../support/browser';

const PASSWORD = 'correct horse battery staple 42';
const suffix = () => crypto.randomBytes(4).toString('hex');

// What hostile content tries: script, event handlers, javascript: and data: links, a remote image.
const PAYLOADS = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script>', '[click me](javascript:alert(3))', '[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg==)', '![tracker](https://198.51.100.7/pixel.png)'];

async function signIn(page: Page, base: string, email: string) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Your message').waitFor();
}

async function ask(page: Page, text: string) {
  await page.getByLabel('Your message').fill(text);
  await page.getByLabel('Your message').press('Enter');
}

const lastAnswer = (page: Page) => page.getByTestId('message-assistant').last();

/** On the knowledge screen: creates a knowledge base and waits for its page. */
async function createKnowledgeBase(page: Page, name: string, visibility?: 'organization') {
  await page.getByLabel('Name').fill(name);
  if (visibility) await page.getByLabel('Visibility').selectOption(visibility);
  await page.getByRole('button', { name: 'Create knowledge base' }).click();
  await page.getByRole('heading', { name }).waitFor();
}

/** On a knowledge base's page: uploads one file and waits until it is searchable. */
async function uploadReady(page: Page, file: { name: string; mimeType: string; text: string }) {
  await page.getByLabel('Upload files').setInputFiles([{ name: file.name, mimeType: file.mimeType, buffer: Buffer.from(file.text) }]);
  await page.getByTestId('upload-status').filter({ hasText: /^Ready$/ }).waitFor({ timeout: 30_000 });
}

describe('web UI on the real stack (nginx over TLS, PgBouncer, Redis) in Chromium', () => {
  const stack = requireStack();
  let app: AppProcess;
  let browser: Browser;
  let seed: Database;
  let upstream: Awaited<ReturnType<typeof fakeOpenAi>>;
  const admin = { email: `web-admin-${suffix()}@example.com` };
  const member = { email: `web-member-${suffix()}@example.com` };
  const hostileAnswer = ['Here is what I found. ', ...PAYLOADS.map((p) => `${p} `), 'End of answer.'];

  beforeAll(async () => {
    upstream = await fakeOpenAi((call) => {
      const q = call.body.messages.at(-1)!.content;
      if (call.body.messages[0]!.content.startsWith('Write a title')) return { pieces: ['Hostile ', 'title'], usage: { prompt_tokens: 20, completion_tokens: 2 } };
      if (q.includes('slowly')) return { pieces: Array.from({ length: 60 }, (_, i) => `word${i} `), delayMs: 120, usage: { prompt_tokens: 30, completion_tokens: 60 } };
      return { pieces: hostileAnswer, usage: { prompt_tokens: 40, completion_tokens: 12 } };
    });
    seed = await createDatabase({ url: stack.databaseUrl, poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger: captureLogger().logger });
    const repo = new AuthRepository(seed.db);
    const hash = await new PasswordHasher(10).hash(PASSWORD);
    await repo.insertUser({ email: admin.email, name: 'Ada Admin', role: 'admin', passwordHash: hash, emailVerified: true });
    await repo.insertUser({ email: member.email, name: 'Max Member', role: 'member', passwordHash: hash, emailVerified: true });
    // Every browser of these tests is one ip (loopback): the per-ip API limit is raised so that
    // their sum, not any one person's use, never trips it. Rate limits are tested in test/stack.
    app = await startApp(stack, stack.appPort, { RATE_LIMIT_MAX: '5000' });
    browser = await launchChromium();
  });
  /** `body` on a fresh page (see onPage), signed in as `email` first when one is given. */
  const asUser = (email: string | undefined, body: (page: Page) => Promise<void>, size: Parameters<typeof onPage>[2] = {}) =>
    onPage(browser, stack.httpsUrl, size, async (page) => {
      if (email) await signIn(page, stack.httpsUrl, email);
      await body(page);
    });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await upstream?.close();
    await seed?.close();
  });

  it('when a person signs in, uploads two documents and asks, then both progress bars reach ready, the answer streams with a citation that opens the right passage, and an expired session returns them to where they were', async () => {
    await asUser(undefined, async (page) => {

      // A wrong password is refused with the API's message, then the right one signs in.
      await page.goto(`${stack.httpsUrl}/login`);
      await screenshot(page, 'sign-in');
      await page.getByLabel('Email').fill(member.email);
      await page.getByLabel('Password').fill('not the password at all');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('login-error').waitFor();
      expect(await page.getByTestId('login-error').textContent()).toMatch(/email or password/i);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'New chat', exact: true }).waitFor();

      // A knowledge base with two documents, uploaded at once.
      const kbName = `Handbook ${suffix()}`;
      await page.getByRole('link', { name: 'Knowledge', exact: true }).click();
      await createKnowledgeBase(page, kbName, 'organization');
      // A made-up place name of this run: other runs' documents in the shared database never outrank it.
      const place = `Quorvale${suffix().replace(/\d/g, 'x')}`;
      const travel = `# Travel policy for ${place}\n\nHotel stays in ${place} are reimbursed up to 180 euros per night.\n\nTrains are booked in second class.\n`;
      const parking = `# Parking\n\nGuests park in the visitor garage on level minus two, next to the lifts.\n`;
      await page.getByLabel('Upload files').setInputFiles([
        { name: 'travel-policy.md', mimeType: 'text/markdown', buffer: Buffer.from(travel) },
        { name: 'parking.txt', mimeType: 'text/plain', buffer: Buffer.from(parking) },
      ]);
      const rows = page.getByTestId('upload-row');
      await waitFor('two upload rows', async () => (await rows.count()) === 2);
      for (const i of [0, 1]) await rows.nth(i).getByTestId('upload-status').filter({ hasText: /^Ready$/ }).waitFor({ timeout: 30_000 });
      expect(await rows.locator('progress').count()).toBe(2);
      await page.getByRole('link', { name: /travel-policy/ }).first().waitFor();
      await screenshot(page, 'knowledge-base');

      // Retrieval can be tried from the knowledge base page.
      await page.getByLabel('Search this knowledge base').fill(`hotel night ${place}`);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.getByTestId('search-hit').first().waitFor();
      expect(await page.getByTestId('search-hit').first().textContent()).toContain('180 euros');
      expect(await page.getByTestId('search-hit').first().textContent()).toContain(place);

      // The answer streams and cites the travel policy; the chip opens the passage.
      await page.getByRole('link', { name: 'Chat', exact: true }).click();
      await page.getByRole('button', { name: 'New chat', exact: true }).click();
      await ask(page, `How much is reimbursed for a hotel night in ${place}?`);
      const answer = lastAnswer(page);
      await answer.getByTestId('citation-chip').first().waitFor({ timeout: 20_000 });
      expect(await answer.textContent()).toContain('180 euros');
      await answer.getByTestId('answer-tokens').waitFor();
      expect(await answer.getByTestId('answer-tokens').textContent()).toMatch(/^\d[\d,.]* tokens$/);
      await answer.getByTestId('citation-chip').filter({ hasText: place }).first().click();
      const panel = answer.getByTestId('citation-panel');
      await panel.waitFor();
      expect(await panel.textContent()).toContain('revision 1');
      expect(await panel.locator('blockquote').textContent()).toContain('180 euros');
      await screenshot(page, 'chat-citation');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await panel.getByRole('link', { name: /Open the passage/ }).click();
      await page.getByRole('heading', { name: 'Revision 1' }).waitFor();
      expect(await page.getByTestId('revision-row').first().textContent()).toContain('You');
      expect(await page.locator('mark').first().textContent()).toContain('180 euros');
      await screenshot(page, 'entry-passage');

      // The session expires: the next step goes to sign-in, and signing in comes back here.
      const here = new URL(page.url());
      await page.context().clearCookies();
      await page.reload();
      await page.waitForURL(/\/login\?next=/);
      await page.getByLabel('Email').fill(member.email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.pathname === here.pathname);
      expect(new URL(page.url()).search).toBe(here.search);

    });
  }, 120_000);

  it('when an answer streams, then Stop keeps the partial answer, Regenerate makes a second version, and Esc stops too', async () => {
    await asUser(admin.email, async (page) => {
      const slug = await fakeAgent(page, 'Slow');

      await page.goto(`${stack.httpsUrl}/`);
      await page.getByLabel('Agent').selectOption(slug);
      await ask(page, 'Please answer slowly');
      const answer = lastAnswer(page);
      await waitFor('a few streamed words', async () => ((await page.locator('[data-testid="message-assistant"][aria-busy="true"]').textContent({ timeout: 5000 })) ?? '').includes('word3'));
      await screenshot(page, 'chat-streaming');
      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await answer.getByTestId('answer-stopped').waitFor();
      const partial = (await answer.locator('.markdown').textContent()) ?? '';
      expect(partial).toContain('word0');
      expect(partial).not.toContain('word59');
      // Kept on the server: a reload shows the same partial answer, marked stopped.
      await page.reload();
      await lastAnswer(page).getByTestId('answer-stopped').waitFor();
      expect(await lastAnswer(page).locator('.markdown').textContent()).toBe(partial);

      await lastAnswer(page).getByRole('button', { name: 'Regenerate', exact: true }).click();
      const streamingAnswer = page.locator('[data-testid="message-assistant"][aria-busy="true"]');
      await waitFor('the second version streaming', async () => ((await streamingAnswer.textContent({ timeout: 5000 })) ?? '').includes('word2'));
      await page.keyboard.press('Escape');
      await lastAnswer(page).getByTestId('answer-stopped').waitFor();
      expect(await lastAnswer(page).getByLabel('Version 2 of 2').count()).toBe(1);
      await lastAnswer(page).getByRole('button', { name: 'Previous version' }).click();
      expect(await lastAnswer(page).locator('.markdown').textContent()).toBe(partial);

      // Editing the question makes a branch beside the first one.
      await page.getByTestId('message-user').last().getByRole('button', { name: 'Edit', exact: true }).click();
      await page.getByLabel('Edit your question').fill('Please answer slowly, edited');
      await page.getByRole('button', { name: 'Send', exact: true }).first().click();
      await waitFor('the edited branch streaming', async () => ((await streamingAnswer.textContent({ timeout: 5000 })) ?? '').includes('word1'));
      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await lastAnswer(page).getByTestId('answer-stopped').waitFor();
      expect(await page.getByTestId('message-user').last().getByLabel('Version 2 of 2').count()).toBe(1);

      // Leaving for a new chat while an answer streams stops it there; the new chat starts clean.
      const before = page.url();
      await ask(page, 'Please answer slowly once more');
      await waitFor('the third answer streaming', async () => ((await streamingAnswer.textContent({ timeout: 5000 })) ?? '').includes('word1'));
      await page.getByRole('button', { name: 'New chat', exact: true }).click();
      await page.getByLabel('Agent').waitFor();
      expect(await page.getByTestId('message-assistant').count()).toBe(0);
      await ask(page, 'Hello from a clean chat');
      await page.getByTestId('message-assistant').getByTestId('answer-tokens').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('message-user').allTextContents()).toEqual([expect.stringContaining('Hello from a clean chat')]);
      expect(await page.getByTestId('chat-error').count()).toBe(0);
      await page.goto(before);
      await waitFor('the stopped third answer saved', async () => (await lastAnswer(page).getByTestId('answer-stopped').count()) === 1 && ((await page.getByTestId('message-user').last().textContent()) ?? '').includes('once more'));
    });
  }, 120_000);

  it('when a document, a file name, a question and the model itself carry XSS payloads, then each is shown as visible text and nothing fires or loads', async () => {
    await asUser(admin.email, async (page) => {

      // A hostile document with a hostile file name.
      const kbName = `Hostile ${suffix()}`;
      await page.goto(`${stack.httpsUrl}/knowledge`);
      await createKnowledgeBase(page, kbName);
      const fileName = `<img src=x onerror=alert(9)>.md`;
      await uploadReady(page, { name: fileName, mimeType: 'text/markdown', text: `# Zebra crossing rules\n\nThe zebra crossing rule is simple. ${PAYLOADS.join(' ')} Zebras always cross at the stripes.\n` });
      expect(await page.getByTestId('upload-row').first().textContent()).toContain('<img src=x onerror=alert(9)>');

      // The built-in provider quotes the document; the question carries a payload of its own.
      await page.goto(`${stack.httpsUrl}/`);
      await ask(page, `What is the zebra crossing rule? <script>alert(5)</script><img src=y onerror=alert(6)>`);
      await lastAnswer(page).getByTestId('citation-chip').first().waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('message-user').last().textContent()).toContain('<script>alert(5)</script>');
      expect(await lastAnswer(page).textContent()).toContain('onerror=alert(1)');
      await lastAnswer(page).getByTestId('citation-chip').first().click();
      expect(await lastAnswer(page).getByTestId('citation-panel').textContent()).toContain('<img src=x onerror=alert(1)>');

      // The model's own answer is hostile too.
      const slug = await fakeAgent(page, 'Hostile model');
      await page.goto(`${stack.httpsUrl}/`);
      await page.getByLabel('Agent').selectOption(slug);
      await ask(page, 'Say something nasty');
      await waitFor('the hostile answer', async () => ((await lastAnswer(page).textContent()) ?? '').includes('End of answer.'));
      await lastAnswer(page).getByTestId('answer-tokens').waitFor();
      const text = (await lastAnswer(page).textContent()) ?? '';
      expect(text).toContain('<img src=x onerror=alert(1)>');
      expect(text).toContain('<script>alert(2)</script>');
      expect(text).toContain('click me');
      // Links: javascript: and data: are not links at all; the image is not an image.
      const hrefs = await lastAnswer(page).locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(hrefs.filter((h) => h && /^(javascript|data):/i.test(h))).toEqual([]);
      expect(await page.locator('main img[src^="http"], main img[src="x"], main img[src="y"]').count()).toBe(0);
      expect(await page.locator('main script').count()).toBe(0);
      await screenshot(page, 'chat-hostile');
      // Anything the content tried to load or run has had its chance once the network is quiet.
      await page.waitForLoadState('networkidle');
    });
  }, 120_000);

  it('when a person edits a document, compares its revisions and restores the first, then the diff shows what changed and the restored text is the current one', async () => {
    await asUser(member.email, async (page) => {
      const kbName = `Revisions ${suffix()}`;
      await page.goto(`${stack.httpsUrl}/knowledge`);
      await createKnowledgeBase(page, kbName);
      await uploadReady(page, { name: 'lunch.md', mimeType: 'text/markdown', text: '# Lunch\n\nLunch is served from noon until two.\n' });
      await page.getByTestId('upload-row').getByRole('link', { name: 'lunch.md' }).click();
      await page.getByRole('heading', { name: 'Lunch', level: 1 }).waitFor();

      await page.getByRole('button', { name: 'Edit content' }).click();
      const editor = page.getByLabel('New content');
      expect(await editor.inputValue()).toContain('Lunch is served from noon until two.');
      await editor.fill((await editor.inputValue()).replace('until two', 'until half past two'));
      await page.getByRole('button', { name: 'Save as new revision' }).click();
      await waitFor('revision 2 ready', async () => ((await page.getByTestId('current-revision').textContent()) ?? '').includes('2'), 30_000);
      await page.getByLabel('From revision').selectOption('1');
      await page.getByLabel('To revision').selectOption('2');
      const diff = page.getByTestId('diff');
      await diff.locator('.diff-add').first().waitFor();
      expect(await diff.locator('.diff-del').allTextContents()).toEqual([expect.stringContaining('until two')]);
      expect(await diff.locator('.diff-add').allTextContents()).toEqual([expect.stringContaining('until half past two')]);
      await screenshot(page, 'entry-diff');

      await page.getByRole('button', { name: 'Restore revision 1' }).click();
      await waitFor('revision 3 current', async () => ((await page.getByTestId('current-revision').textContent()) ?? '').includes('3'), 30_000);
      await page.getByRole('link', { name: 'View revision 3' }).click();
      await page.getByRole('heading', { name: 'Revision 3' }).waitFor();
      expect(await page.getByTestId('revision-content').textContent()).toContain('until two.');
      expect(await page.getByTestId('revision-row').count()).toBe(3);
    });
  }, 120_000);

  it('when an admin creates an agent on the agents screen, then members can pick it for a new chat and it answers with its own knowledge base', async () => {
    const kbName = `Cafeteria ${suffix()}`;
    const dish = `Plombir${suffix().replace(/\d/g, 'q')}`;
    const slug = `cafeteria-${suffix()}`;
    await asUser(admin.email, async (page) => {
      await page.goto(`${stack.httpsUrl}/knowledge`);
      await createKnowledgeBase(page, kbName, 'organization');
      await uploadReady(page, { name: 'menu.txt', mimeType: 'text/plain', text: `Menu\n\nOn Fridays the cafeteria serves ${dish} with rye bread.\n` });

      await page.getByRole('link', { name: 'Agents', exact: true }).click();
      await page.getByLabel('Slug').fill(slug);
      await page.getByLabel('Name', { exact: true }).fill('Cafeteria guide');
      await page.getByLabel('Description').fill('Knows the menu.');
      await page.getByLabel('System prompt').fill('Answer questions about the cafeteria.');
      // The list filters by name (the shared test database holds dozens of knowledge bases).
      await page.getByLabel('Filter knowledge bases').fill(kbName);
      expect(await page.getByTestId('agent-kbs').getByRole('checkbox').count()).toBe(1);
      await page.getByTestId('agent-kbs').getByLabel(kbName).check();
      await page.getByRole('button', { name: 'Create agent' }).click();
      await page.getByText('The agent "Cafeteria guide" was created.').waitFor();
      await page.getByTestId(`agent-row-${slug}`).waitFor();
      await screenshot(page, 'agents-created');
    });

    await asUser(member.email, async (page) => {
      await page.getByLabel('Agent').selectOption(slug);
      await ask(page, `What does the cafeteria serve on Fridays with ${dish}?`);
      await lastAnswer(page).getByTestId('citation-chip').first().waitFor({ timeout: 20_000 });
      expect(await lastAnswer(page).textContent()).toContain(dish);
      expect(await page.locator('.agent-name').textContent()).toBe('Cafeteria guide');
    });
  }, 120_000);

  it('when a person has more conversations than the sidebar shows, then Show more brings the older ones, and search finds any of them', async () => {
    const email = `web-many-${suffix()}@example.com`;
    await new AuthRepository(seed.db).insertUser({ email, name: 'Manny Chats', role: 'member', passwordHash: await new PasswordHasher(10).hash(PASSWORD), emailVerified: true });
    await asUser(email, async (page) => {
      const made = await page.evaluate(async () => {
        const csrf = ((await (await fetch('/api/auth/csrf')).json()) as { csrfToken: string }).csrfToken;
        let ok = 0;
        for (let i = 1; i <= 57; i++) {
          const r = await fetch('/api/conversations', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ title: `Topic number ${i}` }) });
          if (r.status === 201) ok += 1;
        }
        return ok;
      });
      expect(made).toBe(57);
      await page.reload();
      const items = page.getByRole('list', { name: 'Conversations' }).getByRole('listitem');
      await waitFor('the first page', async () => (await items.count()) === 50);
      expect(await items.first().textContent()).toContain('Topic number 57');
      await page.getByRole('button', { name: 'Show more (7 older)' }).click();
      await waitFor('all of them', async () => (await items.count()) === 57);
      expect(await items.last().textContent()).toContain('Topic number 1');
      expect(await page.getByRole('button', { name: /Show more/ }).count()).toBe(0);
      await page.getByLabel('Search conversations').fill('number 3');
      await waitFor('the search results', async () => (await items.count()) >= 1 && (await items.allTextContents()).every((t) => t.includes('number 3')));
    });
  }, 90_000);

  it('when the provider is down, then the person sees its message, not a stack trace', async () => {
    await asUser(admin.email, async (page) => {
      const slug = await fakeAgent(page, 'Unreachable', 'http://127.0.0.1:9/v1');
      await page.goto(`${stack.httpsUrl}/`);
      await page.getByLabel('Agent').selectOption(slug);
      await ask(page, 'Anyone there?');
      const shown = page.getByTestId('answer-error').or(page.getByTestId('chat-error')).first();
      await shown.waitFor({ timeout: 30_000 });
      const message = (await shown.textContent()) ?? '';
      expect(message).toMatch(/could not be reached|unavailable|paused/i);
      expect(message).not.toMatch(/at .*\.js:\d+/);
      // The question was asked and kept: the box is empty again, not holding a refused question.
      expect(await page.getByLabel('Your message').inputValue()).toBe('');
    });
  }, 90_000);

  it('when the screen is 375 px wide, then nothing overflows, the sidebars fold away and open on demand', async () => {
    await asUser(member.email, async (page) => {
      await ask(page, 'How much is reimbursed for a hotel night?');
      await lastAnswer(page).getByTestId('answer-tokens').waitFor({ timeout: 20_000 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(await page.getByRole('list', { name: 'Conversations' }).isVisible()).toBe(false);
      await screenshot(page, 'phone-chat');
      await page.getByRole('button', { name: 'Conversations' }).click();
      expect(await page.getByRole('list', { name: 'Conversations' }).isVisible()).toBe(true);
      await screenshot(page, 'phone-conversations');
      await page.getByRole('button', { name: 'Menu', exact: true }).click();
      await page.getByRole('link', { name: 'Knowledge', exact: true }).click();
      await page.getByRole('heading', { name: /Knowledge/ }).first().waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
      await screenshot(page, 'phone-knowledge');
    }, { width: 375, height: 740 });
  }, 90_000);

  it('when a person turns on 2FA from the QR code, stores the recovery codes and makes an API key, then the next sign-in asks for a code and the key, shown once, works on /v1', async () => {
    const email = `web-2fa-${suffix()}@example.com`;
    const hash = await new PasswordHasher(10).hash(PASSWORD);
    await new AuthRepository(seed.db).insertUser({ email, name: 'Tess Totp', role: 'member', passwordHash: hash, emailVerified: true });
    await asUser(email, async (page) => {
      await page.getByRole('link', { name: 'Account', exact: true }).click();
      await page.getByRole('button', { name: 'Turn on', exact: true }).click();
      await page.getByTestId('totp-password-form').getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByTestId('totp-qr').waitFor();
      expect(await page.getByTestId('totp-qr').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
      const secret = ((await page.getByTestId('totp-secret').textContent()) ?? '').replace(/\s+/g, '');
      const totp = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
      await page.getByLabel('6-digit code').fill(totp.generate());
      await page.getByRole('button', { name: 'Confirm and turn on' }).click();
      await page.getByTestId('recovery-codes').waitFor();
      expect(await page.getByTestId('recovery-codes').locator('li').count()).toBeGreaterThanOrEqual(8);
      const recovery = ((await page.getByTestId('recovery-codes').locator('li').first().textContent()) ?? '').trim();
      await screenshot(page, 'account-recovery-codes');
      await page.getByRole('button', { name: 'I have stored the codes' }).click();
      expect(await page.getByTestId('profile-2fa').textContent()).toContain('On');

      await page.getByLabel('Key name').fill('Laptop script');
      await page.getByRole('button', { name: 'Create key' }).click();
      const key = await page.getByTestId('new-api-key').inputValue();
      expect(key).toMatch(/^hk_/);
      await page.getByText('This key is shown only once.').waitFor();
      const models = await fetch(`${app.baseUrl}/v1/models`, { headers: { Authorization: `Bearer ${key}` } });
      expect(models.status).toBe(200);
      await page.getByRole('button', { name: 'Done', exact: true }).click();
      expect(await page.getByTestId('new-api-key').count()).toBe(0);
      expect(await page.getByTestId('api-key-row').count()).toBe(1);

      // Sign out and in again: the password is not enough any more.
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const code = page.getByLabel('6-digit code from your authenticator app');
      await code.waitFor();
      await screenshot(page, 'sign-in-2fa');
      // A stored recovery code signs in instead of the app's code.
      await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
      await page.getByLabel('Recovery code').fill(recovery);
      await page.getByRole('button', { name: 'Verify and sign in' }).click();
      await page.getByLabel('Your message').waitFor();
    });
  }, 120_000);

  it('when each main screen is scanned with axe-core, in light and in dark mode, then none has a serious violation', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await asUser(undefined, async (page) => {
        await page.goto(`${stack.httpsUrl}/login`);
        const found: Record<string, string[]> = { login: await seriousA11yViolations(page) };
        await signIn(page, stack.httpsUrl, admin.email);
        await ask(page, 'How much is reimbursed for a hotel night?');
        await lastAnswer(page).getByTestId('answer-tokens').waitFor({ timeout: 20_000 });
        found.conversation = await seriousA11yViolations(page);
        await screenshot(page, `screen-conversation-${scheme}`);
        for (const [name, path] of [['knowledge', '/knowledge'], ['account', '/account'], ['agents', '/admin/agents']] as const) {
          await page.goto(`${stack.httpsUrl}${path}`);
          await page.getByRole('heading', { level: 1 }).first().waitFor();
          await page.waitForLoadState('networkidle');
          found[name] = await seriousA11yViolations(page);
          await screenshot(page, `screen-${name}-${scheme}`);
        }
        expect({ scheme, ...found }).toEqual({ scheme, login: [], conversation: [], knowledge: [], account: [], agents: [] });
      }, { width: 1200, height: 800, colorScheme: scheme });
    }
  }, 120_000);

  /** An admin-made provider on the local fake upstream and an agent on it; returns the agent's slug. */
  async function fakeAgent(page: Page, name: string, baseUrl = upstream.baseUrl): Promise<string> {
    const slug = `${name.toLowerCase().replace(/\s+/g, '-')}-${suffix()}`;
    const made = await page.evaluate(
      async ({ slug, name, baseUrl }) => {
        const csrf = ((await (await fetch('/api/auth/csrf')).json()) as { csrfToken: string }).csrfToken;
        const post = async (path: string, body: unknown) => {
          const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify(body) });
          return { status: r.status, body: (await r.json()) as Record<string, { id: string }> };
        };
        const provider = await post('/api/providers', { name: `${name} upstream ${slug}`, type: 'openai', baseUrl, apiKey: 'sk-local', models: ['fake-model'], defaultModel: 'fake-model' });
        const agent = await post('/api/agents', { slug, name, providerId: provider.body.provider?.id, model: 'fake-model', retrievalK: 0 });
        return [provider.status, agent.status];
      },
      { slug, name, baseUrl },
    );
    expect(made).toEqual([201, 201]);
    return slug;
  }
});

describe('first run on the embedded default (PGlite, no Redis) through nginx', () => {
  const stack = requireStack();

  it('when a newcomer opens the printed setup link, then they create the admin, upload a file and get a cited answer from the default agent', async () => {
    const app = await startApp(stack, stack.appPort, { DATABASE_URL: '', MIGRATION_DATABASE_URL: '', REDIS_URL: '', PUBLIC_URL: stack.httpsUrl });
    const browser = await launchChromium();
    try {
      const link = await waitFor('the setup link in the log', async () => app.logs.find((l) => l.message === 'auth.setup.link')?.setupLink as string | undefined);
      expect(link.startsWith(`${stack.httpsUrl}/setup?token=`)).toBe(true);
      await onPage(browser, stack.httpsUrl, {}, async (page) => {
        await page.goto(link);
        await page.getByLabel('Your name').fill('First Admin');
        await page.getByLabel('Email').fill('first@example.com');
        await page.getByLabel('Password').fill(PASSWORD);
        await screenshot(page, 'setup');
        await page.getByRole('button', { name: 'Create admin and sign in' }).click();
        await page.getByRole('button', { name: 'New chat', exact: true }).waitFor();

        await page.getByRole('link', { name: 'Knowledge', exact: true }).click();
        await createKnowledgeBase(page, 'Company handbook');
        await uploadReady(page, { name: 'holidays.txt', mimeType: 'text/plain', text: 'Holidays\n\nEveryone gets 30 days of paid holiday per year, plus public holidays.\n' });

        await page.getByRole('link', { name: 'Chat', exact: true }).click();
        await ask(page, 'How many days of paid holiday do I get?');
        await lastAnswer(page).getByTestId('citation-chip').first().waitFor({ timeout: 20_000 });
        expect(await lastAnswer(page).textContent()).toContain('30 days');
        await screenshot(page, 'first-answer');
        // The link worked once: opening it again says the instance is set up.
        await page.goto(link);
        await page.getByText('Hearth is already set up.').waitFor();
      });
    } finally {
      await browser.close();
      await app.stop();
    }
  }, 120_000);
});
