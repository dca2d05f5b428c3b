// A few lines instead of a framework: elements built with text nodes only (never innerHTML, so
// nothing a server or a patient record holds is ever parsed as markup), and no style attributes
// (the page's Content-Security-Policy allows the stylesheet only).

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) {
      continue;
    }
    if (typeof value === 'function') {
      element.addEventListener(name.replace(/^on/, '').toLowerCase(), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    element.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  return element;
}

/** Replaces everything inside `parent`. */
export function mount(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      parent.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
    }
  }
}

/** A status as words and a symbol, coloured by its tone: colour is never the only signal. */
export type Tone = 'danger' | 'warning' | 'ok' | 'info' | 'muted';

const SYMBOLS: Record<Tone, string> = { danger: '⚠', warning: '!', ok: '✓', info: '◷', muted: '–' };

export function badge(tone: Tone, label: string, detail?: string): HTMLSpanElement {
  return h('span', { class: `badge badge-${tone}` }, h('span', { class: 'badge-symbol', 'aria-hidden': 'true' }, SYMBOLS[tone]), ' ', h('span', { class: 'badge-label' }, label), detail ? h('span', { class: 'badge-detail' }, ` ${detail}`) : null);
}

/** "Not shown to your role": what the signed-in organization's role does not read at all. */
export function notVisible(): HTMLSpanElement {
  return h('span', { class: 'not-visible' }, 'not visible to your role');
}
