import type { Message } from '../../lib/types';

/**
 * The branch on screen: from the first question, at each fork the chosen child (or the newest),
 * with each step's siblings so the UI can switch between versions.
 */
export function currentBranch(messages: Message[], chosen: Record<string, string>): { message: Message; siblings: Message[] }[] {
  const children = new Map<string, Message[]>();
  for (const m of messages) {
    const key = m.parentId ?? 'root';
    const list = children.get(key) ?? [];
    list.push(m);
    children.set(key, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const path: { message: Message; siblings: Message[] }[] = [];
  let key = 'root';
  for (;;) {
    const siblings = children.get(key);
    if (!siblings || siblings.length === 0) break;
    const pick = siblings.find((s) => s.id === chosen[key]) ?? siblings[siblings.length - 1]!;
    path.push({ message: pick, siblings });
    key = pick.id;
  }
  return path;
}
