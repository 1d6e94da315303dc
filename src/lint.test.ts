import { ESLint } from 'eslint';
import { projectRoot } from './platform/paths';

// The module-boundary rule lives in eslint.config.mjs; this proves it bites.
describe('lint rules', () => {
  const eslint = new ESLint({ cwd: projectRoot() });
  const messages = async (code: string, filePath: string) => (await eslint.lintText(code, { filePath })).flatMap((r) => r.messages.map((m) => m.ruleId ?? m.message));

  it("when a module imports another module's internals, then lint fails; through its index.ts it passes", async () => {
    expect(await messages("import { x } from '../auth/auth.service';\nexport const y = x;\n", 'src/modules/chat/chat.service.ts')).toContain('no-restricted-imports');
    expect(await messages("import { x } from '../../modules/auth/auth.repository';\nexport const y = x;\n", 'src/modules/chat/chat.service.ts')).toContain('no-restricted-imports');
    expect(await messages("import { x } from './modules/auth/auth.routes';\nexport const y = x;\n", 'src/app.ts')).toContain('no-restricted-imports');
    expect(await messages("import { x } from '../auth';\nexport const y = x;\n", 'src/modules/chat/chat.service.ts')).not.toContain('no-restricted-imports');
    expect(await messages("import { x } from './chat.repository';\nexport const y = x;\n", 'src/modules/chat/chat.service.ts')).not.toContain('no-restricted-imports');
  });

  it('when the platform imports a module, then lint fails', async () => {
    expect(await messages("import { x } from '../../modules/auth';\nexport const y = x;\n", 'src/platform/http/x.ts')).toContain('no-restricted-imports');
  });

  it('when a test is focused or skipped, then lint fails', async () => {
    expect(await messages("it.only('a', () => {});\n", 'src/x.test.ts')).toContain('jest/no-focused-tests');
    expect(await messages("describe.skip('a', () => {});\n", 'src/x.test.ts')).toContain('jest/no-disabled-tests');
  });
});
