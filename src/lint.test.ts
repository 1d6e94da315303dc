import { ESLint } from 'eslint';
import { projectRoot } from './platform/paths';

// The module-boundary rule lives in eslint-rules/; this proves it bites (and does not over-bite).
describe('lint rules', () => {
  const eslint = new ESLint({ cwd: projectRoot() });
  const rules = async (code: string, filePath: string) => (await eslint.lintText(code, { filePath })).flatMap((r) => r.messages.map((m) => m.ruleId ?? m.message));
  const boundary = async (source: string, filePath: string) => (await rules(`import { x } from '${source}';\nexport const y = x;\n`, filePath)).includes('hearth/module-boundaries');

  it("when a module imports another module's internals, at any depth, then lint fails", async () => {
    expect(await boundary('../auth/auth.service', 'src/modules/chat/chat.service.ts')).toBe(true);
    expect(await boundary('../../modules/auth/auth.repository', 'src/modules/chat/chat.service.ts')).toBe(true);
    expect(await boundary('../../auth/auth.service', 'src/modules/chat/routes/x.ts')).toBe(true);
    expect(await boundary('./modules/auth/auth.routes', 'src/app.ts')).toBe(true);
    expect(await boundary('../modules/auth/nested/deep', 'src/cli/index.ts')).toBe(true);
  });

  it('when code imports a module through its index.ts, or a module imports its own files, then lint passes', async () => {
    expect(await boundary('../auth', 'src/modules/chat/chat.service.ts')).toBe(false);
    expect(await boundary('../auth/index', 'src/modules/chat/chat.service.ts')).toBe(false);
    expect(await boundary('../../auth', 'src/modules/chat/routes/x.ts')).toBe(false);
    expect(await boundary('./modules/auth', 'src/app.ts')).toBe(false);
    expect(await boundary('./chat.repository', 'src/modules/chat/chat.service.ts')).toBe(false);
    expect(await boundary('../lib/sse', 'src/modules/chat/routes/x.ts')).toBe(false);
    expect(await boundary('../../platform/errors', 'src/modules/chat/chat.service.ts')).toBe(false);
  });

  it('when the platform imports a module, even through its index, then lint fails', async () => {
    expect(await boundary('../../modules/auth', 'src/platform/http/x.ts')).toBe(true);
    expect(await boundary('../modules/auth', 'src/config/x.ts')).toBe(true);
  });

  it("when code imports zod directly instead of the platform's extended z, then lint fails", async () => {
    expect(await rules("import { z } from 'zod';\nexport const s = z.string();\n", 'src/modules/chat/chat.schema.ts')).toContain('no-restricted-imports');
  });

  it('when a test is focused or skipped, then lint fails', async () => {
    expect(await rules("it.only('a', () => {});\n", 'src/x.test.ts')).toContain('jest/no-focused-tests');
    expect(await rules("describe.skip('a', () => {});\n", 'src/x.test.ts')).toContain('jest/no-disabled-tests');
  });
});
