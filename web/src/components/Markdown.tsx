import { memo, type ReactNode } from 'react';
import { CopyButton } from './CopyButton';
import ReactMarkdown, { defaultUrlTransform, type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';
import rehypeSanitize from 'rehype-sanitize';
import rehypeHighlight from 'rehype-highlight';
import 'highlight.js/styles/github.css';
import './markdown.css';

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}
/**
 * Raw HTML in a document or an answer is shown as the text it is (never parsed, never dropped),
 * so a person sees exactly what an attacker wrote.
 */
function remarkHtmlAsText() {
  const walk = (node: MdNode) => {
    if (node.type === 'html') node.type = 'text';
    node.children?.forEach(walk);
  };
  return (tree: MdNode) => walk(tree);
}

/** Only http(s), mailto and in-app links survive; `javascript:` and `data:` become inert text. */
function safeUrl(url: string): string {
  const out = defaultUrlTransform(url);
  return /^(https?:|mailto:|\/|#)/i.test(out) ? out : '';
}

function textOf(node: ReactNode): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(textOf).join('');
  if (node && typeof node === 'object' && 'props' in node) return textOf((node as { props: { children?: ReactNode } }).props.children);
  return '';
}

function CodeBlock({ children }: { children?: ReactNode }) {
  return (
    <div className="code-block">
      <span className="copy">
        <CopyButton text={textOf(children)} ariaLabel="Copy code" />
      </span>
      <pre>{children}</pre>
    </div>
  );
}

const components: Components = {
  a: ({ href, children }) =>
    !href ? (
      <span className="inert-link">{children}</span>
    ) : /^https?:/i.test(href) ? (
      // The target is shown: a link in model output must not hide where it goes.
      <a href={href} target="_blank" rel="noopener noreferrer" title={href}>
        {children}
      </a>
    ) : (
      <a href={href}>{children}</a>
    ),
  // Remote images are never fetched (no tracking pixels, no data leaks through a URL).
  img: ({ alt, src }) => (
    <span className="blocked-image" title={typeof src === 'string' ? src : undefined}>
      [image not loaded{alt ? `: ${alt}` : ''}]
    </span>
  ),
  pre: ({ children }) => <CodeBlock>{children}</CodeBlock>,
  table: ({ children }) => (
    <div className="table-wrap">
      <table>{children}</table>
    </div>
  ),
};

/**
 * Model output and documents as Markdown: raw HTML is never parsed (react-markdown leaves it as
 * text), the tree is sanitised anyway, and links and images are tamed as above.
 */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={[remarkGfm, remarkHtmlAsText]} rehypePlugins={[rehypeSanitize, [rehypeHighlight, { detect: false, ignoreMissing: true }]]} components={components} urlTransform={safeUrl}>
        {text}
      </ReactMarkdown>
    </div>
  );
});

/**
 * An answer while it streams: the blocks already finished (up to the last blank line outside a
 * code fence) are rendered once and kept; only the growing tail is parsed again per paint, so a
 * long answer costs the same per token as a short one.
 */
export function StreamingMarkdown({ text }: { text: string }) {
  let cut = -1;
  let inFence = false;
  for (let i = 0; i < text.length; ) {
    const nl = text.indexOf('\n', i);
    const line = text.slice(i, nl === -1 ? text.length : nl);
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    else if (!inFence && line.trim() === '' && nl !== -1) cut = nl + 1;
    if (nl === -1) break;
    i = nl + 1;
  }
  const done = cut > 0 ? text.slice(0, cut) : '';
  const tail = cut > 0 ? text.slice(cut) : text;
  return (
    <>
      {done && <Markdown text={done} />}
      {tail && <Markdown text={tail} />}
    </>
  );
}
