// Ctrl+Shift+F: search the open workspace's text files. Matches come grouped by file with
// their lines and the query's words marked; a match opens its file at that line.
import { ApiError } from '../api'
import type { AppContext } from '../context'
import { h, replace } from '../dom'
import { href } from '../routes'

export interface SearchMatch {
  line: number
  text: string
  highlights: [number, number][]
}

export interface SearchFile {
  file_id: string
  doc_id: string
  path: string
  score: number
  matches: SearchMatch[]
}

export interface SearchResult {
  query: string
  files: SearchFile[]
  took_ms: number
}

/** The line with its highlighted ranges (code point offsets) in <mark>, as text nodes only. */
export function markedLine(text: string, highlights: [number, number][]): Node[] {
  const points = Array.from(text)
  const nodes: Node[] = []
  let at = 0
  for (const [start, end] of [...highlights].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue
    nodes.push(document.createTextNode(points.slice(at, start).join('')))
    nodes.push(h('mark', {}, points.slice(start, end).join('')))
    at = end
  }
  nodes.push(document.createTextNode(points.slice(at).join('')))
  return nodes
}

/** The workspace the current route is in, if any. */
function workspaceOfHash(hash: string): string | null {
  const match = /^#\/w\/([^/?]+)/.exec(hash)
  return match ? decodeURIComponent(match[1]) : null
}

/** Installs the Ctrl+Shift+F shortcut; returns the dialog's element to mount once. */
export function searchPanel(ctx: AppContext): HTMLElement {
  const input = h('input', { type: 'search', id: 'workspace-search-q', 'aria-label': 'Search the workspace', placeholder: 'Search files…', autocomplete: 'off' })
  const status = h('p', { class: 'muted search-status', role: 'status', 'aria-live': 'polite' })
  const results = h('div', { class: 'search-results' })
  const close = h('button', { type: 'button', class: 'link', 'aria-label': 'Close search' }, 'Close')
  const dialog = h(
    'dialog',
    { class: 'search-dialog', 'aria-labelledby': 'workspace-search-title' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'workspace-search-title' }, 'Search'), close),
    h('form', { class: 'search-form', role: 'search' }, input),
    status,
    results,
  )
  let ws: string | null = null
  let asked = 0

  async function run() {
    const q = input.value.trim()
    const mine = ++asked
    if (!ws || !q) {
      replace(results)
      status.textContent = ''
      return
    }
    status.textContent = 'Searching…'
    let found: SearchResult
    try {
      found = await ctx.api.get<SearchResult>(`/api/workspaces/${encodeURIComponent(ws)}/search?q=${encodeURIComponent(q)}`)
    } catch (error) {
      if (mine !== asked) return
      status.textContent = error instanceof ApiError ? error.message : 'search failed'
      replace(results)
      return
    }
    if (mine !== asked) return
    const count = found.files.reduce((n, f) => n + f.matches.length, 0)
    status.textContent = found.files.length
      ? `${count} ${count === 1 ? 'match' : 'matches'} in ${found.files.length} ${found.files.length === 1 ? 'file' : 'files'}`
      : 'No matches'
    const wsId = ws
    replace(
      results,
      found.files.map((file) =>
        h(
          'section',
          { class: 'search-file' },
          h('h3', { class: 'search-path', title: file.path }, h('a', { href: href.file(wsId, file.file_id, file.matches[0]?.line) }, file.path)),
          h(
            'ul',
            { class: 'search-matches' },
            file.matches.map((m) =>
              h('li', {}, h('a', { class: 'search-match', href: href.file(wsId, file.file_id, m.line) },
                h('span', { class: 'search-line' }, String(m.line)),
                h('code', {}, markedLine(m.text, m.highlights)))),
            ),
          ),
        ),
      ),
    )
  }

  let timer = 0
  input.addEventListener('input', () => {
    clearTimeout(timer)
    timer = window.setTimeout(() => void run(), 200)
  })
  dialog.querySelector('form')!.addEventListener('submit', (event) => {
    event.preventDefault()
    clearTimeout(timer)
    void run()
  })
  close.addEventListener('click', () => dialog.close())
  // Following a match closes the panel; the file view opens at the line.
  results.addEventListener('click', (event) => {
    if ((event.target as Element).closest('a')) dialog.close()
  })

  window.addEventListener('keydown', (event) => {
    if (!(event.ctrlKey || event.metaKey) || !event.shiftKey || event.key.toLowerCase() !== 'f') return
    const current = workspaceOfHash(location.hash)
    if (!current || !ctx.session.user) return
    event.preventDefault()
    if (current !== ws) {
      ws = current
      replace(results)
      status.textContent = ''
    }
    if (!dialog.open) dialog.showModal()
    input.focus()
    input.select()
  })
  return dialog
}
