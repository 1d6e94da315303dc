import path from 'node:path';

/**
 * Hearth's module boundaries (DESIGN.md): code outside src/modules/<m>/ reaches that module only
 * through its index.ts, and the platform (src/platform, src/config) never imports a module.
 * Resolves relative imports against the importing file, so nesting depth does not matter.
 */
const moduleOf = (file, srcRoot) => {
  const rel = path.relative(path.join(srcRoot, 'modules'), file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const [name, ...rest] = rel.split(path.sep);
  return { name, rest: rest.join('/') };
};

export default {
  meta: {
    type: 'problem',
    docs: { description: "Import another module only through its index.ts; the platform imports no module" },
    schema: [],
    messages: {
      internals: "Import module '{{target}}' only through its index.ts (e.g. '{{suggestion}}'), not '{{source}}'.",
      platform: 'The platform must not import modules (modules depend on the platform, never the reverse).',
    },
  },
  create(context) {
    const file = context.filename;
    const srcRoot = path.join(context.cwd, 'src');
    if (path.relative(srcRoot, file).startsWith('..')) return {};
    const importer = moduleOf(file, srcRoot);
    const inPlatform = /^(platform|config)(\/|\\)/.test(path.relative(srcRoot, file));
    const check = (node) => {
      const source = node.source?.value;
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = moduleOf(path.resolve(path.dirname(file), source), srcRoot);
      if (!target || !target.name) return;
      if (inPlatform) return context.report({ node, messageId: 'platform' });
      if (importer?.name === target.name) return;
      if (target.rest === '' || /^index(\.ts)?$/.test(target.rest)) return;
      const suggestion = path.relative(path.dirname(file), path.join(srcRoot, 'modules', target.name)) || '.';
      context.report({ node, messageId: 'internals', data: { target: target.name, source, suggestion: suggestion.startsWith('.') ? suggestion : `./${suggestion}` } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};
