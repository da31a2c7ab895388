// The assistant beside the editor: ask about the selection (instruction and mode), follow
// every suggestion of the document live, accept, reject or accept all.
import type { Extension } from '@codemirror/state'
import { EditorView, keymap } from '@codemirror/view'
import type { WebsocketProvider } from 'y-websocket'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { ApiError } from '../api'
import type { AppContext } from '../context'
import { field, h, notice, replace } from '../dom'
import { openProvider } from '../live'
import { setSuggestions, suggestionsInline } from './inline'
import { anchorAt, isActive, MODES, rangeOf, type Mode, type Suggestion } from './model'

const STATUS_LABELS: Record<string, string> = {
  streaming: 'Writing…',
  pending: 'Pending',
  accepted: 'Accepted',
  rejected: 'Rejected',
  stale: 'Stale',
  failed: 'Failed',
  cancelled: 'Cancelled',
}
const SHOWN = 30
/** Server-written documents are re-synced now and then: a client that missed an update while
 * joining mid-stream (seen with the stock client) would otherwise wait for its next
 * reconnect to see anything newer. A resync is one small message each way. */
export const SERVER_DOC_RESYNC_MS = 5000

export interface AssistantPanel {
  el: HTMLElement
  /** Editor extensions: inline suggestions and the shortcuts. */
  extension: Extension
  attach(view: EditorView): void
  dispose(): void
}

function message(error: unknown, fallback: string): string {
  return error instanceof ApiError ? error.message : fallback
}

export function assistantPanel(
  ctx: AppContext,
  opts: { docId: string; ydoc: Y.Doc; ytext: Y.Text; awareness: Awareness; canDecide: boolean; language?: string },
): AssistantPanel {
  const { docId, ydoc, ytext, canDecide } = opts
  const api = `/api/docs/${encodeURIComponent(docId)}`
  let view: EditorView | null = null
  let suggestions: Suggestion[] = []
  const cleanups: (() => void)[] = []
  const status = notice()

  // -- asking --------------------------------------------------------------------------------

  const instruction = h('textarea', { rows: 3, maxlength: 10000, placeholder: 'e.g. make it more formal', name: 'instruction' })
  const mode = h('select', { name: 'mode' }, MODES.map((m) => h('option', { value: m.id, title: m.hint }, m.label)))
  const selectionInfo = h('p', { class: 'selection-info muted', 'aria-live': 'polite' }, 'Select text in the editor first.')
  const askButton = h('button', { type: 'submit', class: 'primary' }, 'Ask')
  const askForm = h(
    'form',
    { class: 'ask', onsubmit: (event: SubmitEvent) => { event.preventDefault(); void ask() } },
    field('Instruction', instruction),
    field('Mode', mode),
    selectionInfo,
    h('div', { class: 'ask-actions' }, askButton, h('small', { class: 'muted' }, 'Alt+Shift+A from the editor · Ctrl+Enter asks')),
  )
  instruction.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault()
      void ask()
    }
  })
  mode.addEventListener('change', () => updateSelectionInfo())

  function updateSelectionInfo(): void {
    if (!view) return
    const { from, to } = view.state.selection.main
    const completing = mode.value === 'complete'
    selectionInfo.textContent = completing
      ? `Continues at line ${view.state.doc.lineAt(from).number}.`
      : to > from
        ? `Selection: ${to - from} character${to - from === 1 ? '' : 's'}.`
        : 'Select text in the editor first.'
    askButton.disabled = !completing && to === from
  }

  async function ask(): Promise<void> {
    if (!view) return
    status.clear()
    let { from, to } = view.state.selection.main
    const chosen = mode.value as Mode
    if (chosen === 'complete') from = to
    if (from === to && chosen !== 'complete') {
      status.show('select the text to work on first')
      return
    }
    askButton.disabled = true
    try {
      const body: Record<string, unknown> = {
        instruction: instruction.value.trim(),
        mode: chosen,
        range: { anchor_start: anchorAt(ytext, from), anchor_end: anchorAt(ytext, to) },
      }
      if (opts.language) body.language = opts.language
      const reply = await ctx.api.post<{ suggestion_id: string; suggestions_doc: string }>(`${api}/assist`, body)
      connectBoard(reply.suggestions_doc)
      instruction.value = ''
      status.show('asked; the suggestion appears below as it is written', 'info')
    } catch (error) {
      status.show(message(error, 'could not ask the assistant'))
    } finally {
      updateSelectionInfo()
    }
  }

  // -- following the suggestions document ----------------------------------------------------

  const board = new Y.Doc()
  const entries = board.getMap('suggestions')
  cleanups.push(() => board.destroy())
  entries.observeDeep(() => refresh())

  // The server creates the suggestions document at a document's first request; until then
  // joining it is refused (4404). Whoever has it open says so in their presence, so the others
  // join the moment it exists; a slow retry covers a peer that cannot tell us.
  let boardProvider: WebsocketProvider | null = null
  let retry: ReturnType<typeof setTimeout> | undefined
  cleanups.push(() => clearTimeout(retry))

  function connectBoard(boardId: string): void {
    if (boardProvider) return
    let delay = 2000
    const connection = openProvider(ctx, boardId, board, (code) => {
      if (code === 4404) {
        clearTimeout(retry)
        retry = setTimeout(() => connection.provider.connect(), delay)
        delay = Math.min(delay * 2, 30_000)
      } else {
        status.show('the suggestions stopped updating (no access); reload to try again')
      }
    }, { resyncMs: SERVER_DOC_RESYNC_MS })
    boardProvider = connection.provider
    connection.provider.on('sync', (synced) => {
      if (!synced) return
      // What was there when we joined is not news; what arrives from now on is.
      primed = true
      opts.awareness.setLocalStateField('suggestions', true)
    })
    cleanups.push(connection.dispose)
  }

  function joinIfAnnounced(): void {
    if (!boardProvider || boardProvider.wsconnected || boardProvider.wsconnecting) return
    for (const state of opts.awareness.getStates().values()) {
      if (state.suggestions === true) {
        clearTimeout(retry)
        boardProvider.connect()
        return
      }
    }
  }
  opts.awareness.on('change', joinIfAnnounced)
  cleanups.push(() => opts.awareness.off('change', joinIfAnnounced))

  // Screen readers hear of suggestions that arrive and finish, not of every streamed token.
  const announcer = h('p', { class: 'sr-only', 'aria-live': 'polite' })
  const heard = new Map<string, string>()
  let primed = false

  function announce(): void {
    const news: string[] = []
    for (const s of suggestions) {
      const before = heard.get(s.id)
      if (primed && before === undefined) news.push(`New suggestion from ${s.requested_by_name}`)
      else if (primed && before !== s.status && s.status !== 'streaming') news.push(`Suggestion from ${s.requested_by_name}: ${STATUS_LABELS[s.status] ?? s.status}`)
      heard.set(s.id, s.status)
    }
    if (news.length) announcer.textContent = news.join('. ')
  }

  function refresh(): void {
    suggestions = (Object.values(entries.toJSON()) as Suggestion[]).sort((a, b) => b.created_at - a.created_at)
    announce()
    view?.dispatch({ effects: setSuggestions.of(suggestions) })
    render()
  }

  // -- deciding ------------------------------------------------------------------------------

  async function decide(s: Suggestion, verb: 'accept' | 'reject' | 'cancel'): Promise<void> {
    status.clear()
    try {
      if (verb === 'cancel') await ctx.api.delete(`${api}/suggestions/${encodeURIComponent(s.id)}`)
      else await ctx.api.post(`${api}/suggestions/${encodeURIComponent(s.id)}/${verb}`)
    } catch (error) {
      status.show(message(error, `could not ${verb} the suggestion`))
    }
  }

  const report = h('p', { class: 'report muted', 'aria-live': 'polite' })
  async function acceptAll(): Promise<void> {
    status.clear()
    try {
      const result = await ctx.api.post<{ applied: string[]; overlapping: string[]; stale: string[] }>(`${api}/suggestions/accept-all`)
      const parts = [`applied ${result.applied.length}`]
      if (result.overlapping.length) parts.push(`skipped ${result.overlapping.length} overlapping`)
      if (result.stale.length) parts.push(`${result.stale.length} stale (the text had changed)`)
      report.textContent = `Accept all: ${parts.join(', ')}.`
    } catch (error) {
      status.show(message(error, 'could not accept all'))
    }
  }

  function reveal(s: Suggestion): void {
    if (!view) return
    const range = rangeOf(ydoc, s)
    if (!range) return
    view.dispatch({ selection: { anchor: range.from, head: range.to }, scrollIntoView: true })
    view.focus()
  }

  // -- rendering -----------------------------------------------------------------------------

  const acceptAllButton = h('button', { type: 'button', onclick: () => void acceptAll() }, 'Accept all')
  const list = h('ul', { class: 'sugg-list', 'aria-label': 'Suggestions' })

  function render(): void {
    const pending = suggestions.filter((s) => s.status === 'pending' && s.mode !== 'explain').length
    acceptAllButton.hidden = !canDecide || pending < 2
    acceptAllButton.textContent = `Accept all (${pending})`
    const ordered = [...suggestions.filter(isActive), ...suggestions.filter((s) => !isActive(s))].slice(0, SHOWN)
    replace(list, ordered.length ? ordered.map(card) : h('li', { class: 'muted empty' }, 'No suggestions yet.'))
  }

  function card(s: Suggestion): HTMLElement {
    const who = `asked by ${s.requested_by_name}${s.model ? ` · ${s.model}` : ''}`
    const modeLabel = MODES.find((m) => m.id === s.mode)?.label ?? s.mode
    const buttons: HTMLElement[] = []
    if (canDecide && s.status === 'pending') {
      if (s.mode !== 'explain') buttons.push(h('button', { type: 'button', class: 'primary', onclick: () => void decide(s, 'accept') }, 'Accept'))
      buttons.push(h('button', { type: 'button', onclick: () => void decide(s, 'reject') }, s.mode === 'explain' ? 'Dismiss' : 'Reject'))
    }
    if (canDecide && s.status === 'streaming') buttons.push(h('button', { type: 'button', onclick: () => void decide(s, 'cancel') }, 'Stop'))
    if (isActive(s)) buttons.push(h('button', { type: 'button', class: 'link', onclick: () => reveal(s) }, 'Show in text'))
    const body =
      s.mode === 'explain'
        ? h('div', { class: 'explanation' }, s.proposal || '…')
        : h('div', { class: 'diff' },
            s.original ? h('del', { 'aria-label': 'original' }, s.original) : null,
            h('ins', { 'aria-label': 'proposal' }, s.proposal || (s.status === 'streaming' ? '…' : '')))
    return h(
      'li',
      { class: `sugg-card status-${s.status}`, 'data-suggestion': s.id, 'data-status': s.status },
      h('div', { class: 'sugg-top' }, h('span', { class: `badge status-${s.status}` }, STATUS_LABELS[s.status] ?? s.status), h('strong', {}, modeLabel), h('span', { class: 'muted who' }, who)),
      s.instruction ? h('p', { class: 'instr' }, `“${s.instruction}”`) : null,
      body,
      s.error ? h('p', { class: 'error-text' }, s.status === 'stale' ? `Stale: ${s.error}` : `Failed: ${s.error}`) : null,
      s.decided_by_name && !isActive(s) ? h('p', { class: 'muted small' }, `${STATUS_LABELS[s.status]} by ${s.decided_by_name}`) : null,
      buttons.length ? h('div', { class: 'sugg-actions' }, buttons) : null,
    )
  }

  const el = h(
    'aside',
    { class: 'assistant side-panel', 'aria-labelledby': 'assistant-title', id: 'assistant-panel' },
    h('h2', { id: 'assistant-title' }, 'Assistant'),
    canDecide ? askForm : h('p', { class: 'muted' }, 'Viewers can follow suggestions but not ask or decide.'),
    h('div', { class: 'sugg-head' }, h('h3', {}, 'Suggestions'), acceptAllButton),
    report,
    status.el,
    announcer,
    list,
  )
  render()

  // The list so far; the live document only once it exists (or once we ask).
  void ctx.api
    .get<{ suggestions: Suggestion[]; suggestions_doc: string }>(`${api}/suggestions`)
    .then((reply) => connectBoard(reply.suggestions_doc))
    .catch(() => status.show('the assistant is not available for this document'))

  const extension: Extension = [
    suggestionsInline(ydoc, {
      canDecide,
      accept: (s) => void decide(s, 'accept'),
      reject: (s) => void decide(s, 'reject'),
    }),
    EditorView.updateListener.of((update) => {
      if (update.selectionSet || update.docChanged) updateSelectionInfo()
    }),
    keymap.of([
      {
        key: 'Alt-Shift-a',
        run: () => {
          if (!canDecide) return false
          instruction.focus()
          return true
        },
      },
    ]),
  ]

  return {
    el,
    extension,
    attach(editor) {
      view = editor
      updateSelectionInfo()
      refresh()
    },
    dispose() {
      for (const cleanup of cleanups.splice(0).reverse()) cleanup()
    },
  }
}
