// Small DOM helpers: the app is plain TypeScript, no framework.

export type Child = Node | string | number | null | undefined | false
type AttrValue = string | number | boolean | null | undefined | ((event: any) => void)
export type Attrs = Record<string, AttrValue>

/** Creates an element: `on*` attributes become listeners, `true` an empty attribute. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value)
    } else if (key === 'class') {
      el.className = String(value)
    } else if (key === 'value' && 'value' in el) {
      ;(el as HTMLInputElement).value = String(value)
    } else {
      el.setAttribute(key, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

/** Replaces every child of `el`. */
export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren()
  append(el, children)
}

/** A labelled form field; the id ties label and input together for screen readers. */
let fieldIds = 0
export function field(
  label: string,
  input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLElement {
  input.id ||= `field-${++fieldIds}`
  const parts: Child[] = [h('label', { for: input.id }, label), input]
  if (hint) {
    const hintId = `${input.id}-hint`
    input.setAttribute('aria-describedby', hintId)
    parts.push(h('small', { id: hintId, class: 'hint' }, hint))
  }
  return h('div', { class: 'field' }, parts)
}

/** A region for errors and notices that screen readers announce when it changes. */
export function notice(): { el: HTMLElement; show(text: string, kind?: 'error' | 'info'): void; clear(): void } {
  const el = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', hidden: true })
  return {
    el,
    show(text, kind = 'error') {
      el.textContent = text
      el.className = `notice ${kind}`
      el.hidden = false
    },
    clear() {
      el.textContent = ''
      el.hidden = true
    },
  }
}

/** What a user is in the middle of inside `root`: the text and selection of each field and
 * the state of each disclosure marked `data-keep="<key>"` (focus is the view's to restore). A view that rebuilds its elements
 * when shared state changes takes this before and hands it to `restoreKept` after, so a
 * co-editor's change never throws away a half-typed name or closes an open menu. */
export type Kept = Map<string, { value?: string; start?: number | null; end?: number | null; open?: boolean }>

export function takeKept(root: Element): Kept {
  const kept: Kept = new Map()
  for (const el of root.querySelectorAll<HTMLElement>('[data-keep]')) {
    if (el instanceof HTMLInputElement) kept.set(el.dataset.keep!, { value: el.value, start: el.selectionStart, end: el.selectionEnd })
    else if (el instanceof HTMLSelectElement) kept.set(el.dataset.keep!, { value: el.value })
    else if (el instanceof HTMLDetailsElement) kept.set(el.dataset.keep!, { open: el.open })
  }
  return kept
}

export function restoreKept(root: Element, kept: Kept): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-keep]')) {
    const state = kept.get(el.dataset.keep!)
    if (!state) continue
    el.dataset.restored = 'true'
    if (el instanceof HTMLInputElement && state.value !== undefined) {
      el.value = state.value
      el.setSelectionRange(state.start ?? el.value.length, state.end ?? el.value.length)
    } else if (el instanceof HTMLSelectElement && state.value !== undefined) {
      el.value = state.value
    } else if (el instanceof HTMLDetailsElement && state.open !== undefined) {
      el.open = state.open
    }
  }
}
