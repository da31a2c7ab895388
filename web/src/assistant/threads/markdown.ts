// A message's markdown as DOM: marked's lexer gives the tokens, and every token becomes
// elements and text nodes built here, so nothing in a message is ever parsed as HTML (raw
// HTML in a message shows as its text). Fenced code is highlighted with CodeMirror's
// parsers; `[n]` markers become links to the cited lines.
import { classHighlighter, highlightCode } from '@lezer/highlight'
import type { LanguageSupport } from '@codemirror/language'
import { marked, type Token, type Tokens } from 'marked'
import { h } from '../../dom'
import { LANGUAGES } from '../../editor/languages'

export interface CodeBlock {
  /** Index among all fenced blocks of the text, as the edits API counts them. */
  index: number
  lang: string
  el: HTMLElement
}

export interface Rendered {
  el: HTMLElement
  blocks: CodeBlock[]
}

export type CiteHref = (n: number) => string | null

const SAFE_URL = /^(https?:|mailto:|#)/i

function languageOf(info: string) {
  const name = info.trim().split(/\s+/)[0]?.toLowerCase() ?? ''
  const alias: Record<string, string> = { py: 'python', js: 'javascript', ts: 'typescript', md: 'markdown' }
  const id = alias[name] ?? name
  return LANGUAGES.find((l) => l.id === id || l.extensions.includes(name))
}

function highlightInto(code: HTMLElement, text: string, info: string): void {
  const language = languageOf(info)
  if (!language || language.id === 'text') return
  language.load().then(
    (support) => {
      const parser = (support as LanguageSupport).language?.parser
      if (!parser) return
      const nodes: Node[] = []
      highlightCode(
        text,
        parser.parse(text),
        classHighlighter,
        (part, classes) => nodes.push(classes ? h('span', { class: classes }, part) : document.createTextNode(part)),
        () => nodes.push(document.createTextNode('\n')),
      )
      code.replaceChildren(...nodes)
    },
    () => {},
  )
}

function citations(text: string, cite: CiteHref): Node[] {
  const out: Node[] = []
  let at = 0
  for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
    const target = cite(Number(match[1]))
    if (!target) continue
    out.push(document.createTextNode(text.slice(at, match.index)))
    out.push(h('a', { class: 'citation', href: target, title: `Source ${match[1]}` }, match[0]))
    at = match.index! + match[0].length
  }
  out.push(document.createTextNode(text.slice(at)))
  return out
}

export function renderMarkdown(text: string, cite: CiteHref): Rendered {
  const blocks: CodeBlock[] = []
  const inline = (tokens: Token[] | undefined, fallback: string): Node[] => {
    if (!tokens) return citations(fallback, cite)
    return tokens.flatMap((t): Node[] => {
      switch (t.type) {
        case 'strong': return [h('strong', {}, inline((t as Tokens.Strong).tokens, t.raw))]
        case 'em': return [h('em', {}, inline((t as Tokens.Em).tokens, t.raw))]
        case 'del': return [h('del', {}, inline((t as Tokens.Del).tokens, t.raw))]
        case 'codespan': return [h('code', {}, (t as Tokens.Codespan).text.replace(/&lt;|&gt;|&amp;|&quot;|&#39;/g, unescape))]
        case 'br': return [h('br')]
        case 'link': {
          const link = t as Tokens.Link
          return SAFE_URL.test(link.href)
            ? [h('a', { href: link.href, rel: 'noopener noreferrer', target: link.href.startsWith('#') ? null : '_blank' }, inline(link.tokens, link.text))]
            : inline(link.tokens, link.text)
        }
        case 'text': {
          const txt = t as Tokens.Text
          return txt.tokens ? inline(txt.tokens, txt.text) : citations(unescapeAll(txt.text), cite)
        }
        case 'escape': return [document.createTextNode(unescapeAll((t as Tokens.Escape).text))]
        default: return [document.createTextNode(t.raw)]
      }
    })
  }
  const block = (tokens: Token[]): Node[] =>
    tokens.flatMap((t): Node[] => {
      switch (t.type) {
        case 'paragraph': return [h('p', {}, inline((t as Tokens.Paragraph).tokens, t.raw))]
        case 'heading': return [h(`h${Math.min(6, (t as Tokens.Heading).depth + 2)}` as 'h3', {}, inline((t as Tokens.Heading).tokens, t.raw))]
        case 'code': {
          const c = t as Tokens.Code
          const code = h('code', {}, c.text)
          const fenced = /^\s{0,3}(```|~~~)/.test(c.raw)
          const pre = h('pre', { class: 'code-block' }, code)
          const wrap = h('div', { class: 'code-wrap' }, c.lang ? h('div', { class: 'code-info', title: c.lang }, c.lang) : null, pre)
          if (fenced) blocks.push({ index: blocks.length, lang: c.lang ?? '', el: wrap })
          highlightInto(code, c.text, c.lang ?? '')
          return [wrap]
        }
        case 'blockquote': return [h('blockquote', {}, block((t as Tokens.Blockquote).tokens))]
        case 'list': {
          const l = t as Tokens.List
          return [h(l.ordered ? 'ol' : 'ul', {}, l.items.map((item) => h('li', {}, block(item.tokens))))]
        }
        case 'hr': return [h('hr')]
        case 'space': return []
        case 'text': {
          const txt = t as Tokens.Text
          return [h('span', {}, inline(txt.tokens, txt.text))]
        }
        // Raw HTML and anything else: shown as the text it is.
        default: return [h('p', {}, t.raw)]
      }
    })
  const el = h('div', { class: 'markdown' }, block(marked.lexer(text, { gfm: true })))
  return { el, blocks }
}

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'" }
function unescape(entity: string): string {
  return ENTITIES[entity] ?? entity
}
function unescapeAll(text: string): string {
  return text.replace(/&lt;|&gt;|&amp;|&quot;|&#39;/g, unescape)
}
