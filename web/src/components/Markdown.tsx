import { memo, useState, type ReactNode } from 'react';
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
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(textOf(children)).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  };
  return (
    <div className="code-block">
      <button type="button" className="copy" onClick={copy} aria-label={copied ? 'Copied' : 'Copy code'}>
        {copied ? 'Copied' : 'Copy'}
      </button>
      <pre>{children}</pre>
    </div>
  );
}

const components: Components = {
  a: ({ href, children }) =>
    href ? (
      // The target is shown: a link in model output must not hide where it goes.
      <a href={href} target="_blank" rel="noopener noreferrer" title={href}>
        {children}
      </a>
    ) : (
      <span className="inert-link">{children}</span>
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
