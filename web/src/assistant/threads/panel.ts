// Conversations beside the editor (threads attached to the file) or on the workspace page
// (threads of the whole workspace): the list, then one thread followed live through its
// server-written document — messages, an answer's text as it streams, who is here and who is
// typing — with a composer for editors, and per answer its sources, its code blocks to apply
// as suggestions, stop, thumbs and regenerate.
import * as Y from 'yjs'
import { ApiError, type Role } from '../../api'
import type { AppContext } from '../../context'
import { h, replace } from '../../dom'
import { userColor } from '../../editor/colors'
import { openProvider } from '../../live'
import { href } from '../../routes'
import { SERVER_DOC_RESYNC_MS } from '../panel'
import { renderMarkdown } from './markdown'
import { type Applied, type Edit, fromLive, type Message, type SetAccepted, type Thread } from './model'

export interface ThreadsPanel {
  el: HTMLElement
  dispose(): void
}

const TYPING_IDLE_MS = 3000
const STATUS_TEXT: Record<Message['status'], string> = {
  streaming: 'Writing…',
  done: '',
  stopped: 'Stopped',
  failed: 'Failed',
}

function problem(error: unknown, fallback: string): string {
  return error instanceof ApiError ? error.message : fallback
}

function when(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString()
}

export function threadsPanel(ctx: AppContext, opts: { ws: string; role: Role; docId?: string; id?: string }): ThreadsPanel {
  const base = `/api/workspaces/${encodeURIComponent(opts.ws)}`
  const canWrite = opts.role !== 'viewer'
  const body = h('div', { class: 'threads-body' })
  const el = h(
    'section',
    { class: 'threads-panel', id: opts.id ?? 'threads-panel', 'aria-label': 'Conversations' },
    body,
  )
  let closeThread: (() => void) | null = null

  async function showList() {
    closeThread?.()
    closeThread = null
    const status = h('p', { class: 'muted', role: 'status' }, 'Loading conversations…')
    const list = h('ul', { class: 'thread-list' })
    const newButton = canWrite
      ? h('button', { type: 'button', class: 'primary', onclick: () => void create() }, 'New thread')
      : null
    replace(
      body,
      h('div', { class: 'panel-head' }, h('h2', {}, 'Conversations'), newButton),
      h('p', { class: 'muted' }, opts.docId ? 'Threads about this file.' : 'Threads about the whole workspace.'),
      status,
      list,
    )
    // The workspace's live list document says when a thread is new or has a new message;
    // the list itself comes from the API (it holds only the threads this panel shows).
    let disposed = false
    let liveList: ReturnType<typeof openProvider> | null = null
    let reload = 0
    const ydoc = new Y.Doc()
    closeThread = () => {
      disposed = true
      window.clearTimeout(reload)
      liveList?.dispose()
      ydoc.destroy()
    }
    async function load(): Promise<string | null> {
      let found: { threads: Thread[]; live_doc: string }
      try {
        const query = opts.docId ? `?doc=${encodeURIComponent(opts.docId)}` : ''
        found = await ctx.api.get<{ threads: Thread[]; live_doc: string }>(`${base}/threads${query}`)
      } catch (error) {
        status.textContent = problem(error, 'could not load the conversations')
        return null
      }
      if (disposed) return null
      let threads = found.threads
      if (!opts.docId) threads = threads.filter((t) => !t.doc_id)
      threads.sort((a, b) => b.updated_at - a.updated_at)
      status.textContent = threads.length ? '' : 'No conversations yet.'
      replace(
        list,
        threads.map((t) =>
          h('li', {}, h('button', { type: 'button', class: 'thread-item', title: t.title || 'Untitled thread', onclick: () => open(t) },
            h('span', { class: 'thread-title' }, t.title || 'Untitled thread'),
            h('span', { class: 'muted thread-meta' }, `${t.created_by_name} · ${when(t.updated_at)}`))),
        ),
      )
      return found.live_doc
    }
    const liveDoc = await load()
    if (disposed || !liveDoc) return
    liveList = openProvider(ctx, liveDoc, ydoc, () => {}, { resyncMs: SERVER_DOC_RESYNC_MS })
    ydoc.getMap('threads').observe(() => {
      // Several changes in a burst (a message and its answer) make one reload.
      if (!reload) reload = window.setTimeout(() => { reload = 0; if (!disposed) void load() }, 150)
    })
  }

  async function create() {
    try {
      const thread = await ctx.api.post<Thread>(`${base}/threads`, { title: '', doc_id: opts.docId ?? null })
      open(thread)
    } catch (error) {
      body.querySelector('[role=status]')!.textContent = problem(error, 'could not start a thread')
    }
  }

  function open(thread: Thread) {
    closeThread?.()
    closeThread = openThread(thread)
  }

  function openThread(thread: Thread): () => void {
    const tbase = `${base}/threads/${encodeURIComponent(thread.id)}`
    const user = ctx.session.user!
    const ydoc = new Y.Doc()
    const messages = ydoc.getMap<Y.Map<unknown>>('messages')
    const live = openProvider(ctx, thread.live_doc, ydoc, () => {
      announce.textContent = 'The conversation cannot be followed live right now.'
    }, { resyncMs: SERVER_DOC_RESYNC_MS })
    const awareness = live.provider.awareness
    awareness.setLocalStateField('user', { id: user.id, name: user.username, ...userColor(user.id) })

    const older = new Map<string, Message>()
    let olderBefore: number | null = null
    const rendered = new Map<string, { key: string; el: HTMLElement }>()
    const edits = new Map<string, Edit[] | 'loading'>()
    const applied = new Map<string, Applied>()
    const setResults = new Map<string, string>()

    const announce = h('p', { class: 'sr-only thread-announce', role: 'status', 'aria-live': 'polite' })
    const present = h('ul', { class: 'presence thread-presence', 'aria-label': 'People in this conversation' })
    const typing = h('p', { class: 'muted thread-typing', 'aria-live': 'polite' })
    const loadOlder = h('button', { type: 'button', class: 'link', hidden: true }, 'Show older messages')
    const list = h('ol', { class: 'thread-messages', 'aria-label': 'Messages' })
    const composer = canWrite ? makeComposer() : null
    replace(
      body,
      h('div', { class: 'panel-head' },
        h('button', { type: 'button', class: 'link', onclick: () => void showList() }, '← All conversations'),
      ),
      h('h2', { class: 'thread-heading', title: thread.title || 'Untitled thread' }, thread.title || 'Untitled thread'),
      present,
      loadOlder,
      list,
      typing,
      announce,
      composer?.el ?? h('p', { class: 'muted read-only-note' }, 'You can read this conversation; viewers cannot post.'),
    )

    const all = (): Message[] => {
      const byId = new Map(older)
      messages.forEach((entry) => {
        const m = fromLive(entry)
        byId.set(m.id, m)
      })
      return [...byId.values()].sort((a, b) => a.seq - b.seq)
    }

    let lastStatus = new Map<string, string>()
    let frame = 0
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; render() })
    }
    function render() {
      const shown = all()
      const comparable = withAlternative(shown)
      const stickToEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40
      const nodes = shown.map((m) => {
        const key = JSON.stringify([m.text, m.status, m.edited_at, m.deleted_at, m.citations, m.feedback, m.preferred, comparable.has(m.id), edits.get(m.id) === 'loading' ? 0 : edits.get(m.id), applied.get(m.id), ...[...setResults.entries()]])
        const have = rendered.get(m.id)
        if (have && have.key === key) return have.el
        const el = messageEl(m, comparable.has(m.id))
        rendered.set(m.id, { key, el })
        return el
      })
      replace(list, nodes)
      if (stickToEnd) list.scrollTop = list.scrollHeight
      const minSeq = shown[0]?.seq ?? 1
      loadOlder.hidden = !(olderBefore ?? (minSeq > 1 ? minSeq : null))
      // Say it when an answer starts and ends, not at every token.
      const now = new Map(shown.filter((m) => m.role === 'assistant').map((m) => [m.id, m.status]))
      for (const [id, status] of now) {
        const before = lastStatus.get(id)
        if (before === status) continue
        if (status === 'streaming') announce.textContent = 'The assistant is answering…'
        else if (before === 'streaming') announce.textContent = status === 'done' ? 'The assistant answered.' : `The answer ${status}.`
        if (status === 'done' && canWrite && !edits.has(id)) void loadEdits(id)
      }
      lastStatus = now
    }

    /** The answers that have another finished answer to the same question (they can be
     *  compared): one pass per render, not a scan of the thread per message. */
    function withAlternative(shown: Message[]): Set<string> {
      const done = new Map<string, number>()
      for (const x of shown) {
        if (x.role === 'assistant' && x.reply_to !== null && x.status === 'done') done.set(x.reply_to, (done.get(x.reply_to) ?? 0) + 1)
      }
      return new Set(shown.filter((x) => x.role === 'assistant' && x.reply_to !== null &&
        (done.get(x.reply_to) ?? 0) - (x.status === 'done' ? 1 : 0) > 0).map((x) => x.id))
    }

    function citeHref(m: Message) {
      return (n: number) => {
        const c = m.citations.find((x) => x.n === n)
        return c ? href.file(opts.ws, c.file_id, c.start_line) : null
      }
    }

    function messageEl(m: Message, hasAlternative: boolean): HTMLElement {
      const mine = m.role === 'user' && m.author_id === user.id
      const author = m.role === 'assistant' ? 'Assistant' : m.author_name
      const head = h('div', { class: 'message-head' },
        h('span', { class: 'message-author', title: author }, author),
        h('time', { class: 'muted', datetime: new Date(m.created_at * 1000).toISOString() }, when(m.created_at)),
        m.edited_at && !m.deleted_at ? h('span', { class: 'muted' }, '(edited)') : null,
        m.role === 'assistant' && STATUS_TEXT[m.status] ? h('span', { class: `badge status-${m.status}` }, STATUS_TEXT[m.status]) : null,
      )
      const item = h('li', { class: `message ${m.role}`, 'data-id': m.id, 'data-status': m.status, 'aria-busy': m.status === 'streaming' ? 'true' : null }, head)
      if (m.deleted_at) {
        item.append(h('p', { class: 'muted' }, 'This message was deleted.'))
        return item
      }
      const content = renderMarkdown(m.text, citeHref(m))
      item.append(content.el)
      if (m.error) item.append(h('p', { class: 'notice error' }, m.error))
      if (m.role === 'assistant' && m.citations.length) {
        item.append(h('ol', { class: 'citations', 'aria-label': 'Sources' }, m.citations.map((c) =>
          h('li', { value: c.n }, h('a', { class: 'citation-link', href: href.file(opts.ws, c.file_id, c.start_line), title: c.path },
            `${c.path}:${c.start_line}${c.end_line !== c.start_line ? `–${c.end_line}` : ''}`)))))
      }
      const actions = h('div', { class: 'message-actions' })
      if (m.role === 'assistant' && canWrite) {
        if (m.status === 'streaming') {
          actions.append(h('button', { type: 'button', onclick: () => void act(() => ctx.api.post(`${tbase}/messages/${m.id}/stop`)) }, 'Stop'))
        } else {
          codeActions(m, content.blocks, actions)
          const fb = m.feedback ?? { up: 0, down: 0 }
          actions.append(
            h('button', { type: 'button', 'aria-label': `Good answer (${fb.up})`, title: 'Good answer', onclick: () => void act(() => ctx.api.request('PUT', `${tbase}/messages/${m.id}/feedback`, { value: 'up' })) }, `Good ${fb.up}`),
            h('button', { type: 'button', 'aria-label': `Bad answer (${fb.down})`, title: 'Bad answer', onclick: () => void act(() => ctx.api.request('PUT', `${tbase}/messages/${m.id}/feedback`, { value: 'down' })) }, `Bad ${fb.down}`),
            h('button', { type: 'button', onclick: () => void act(() => ctx.api.post(`${tbase}/messages/${m.id}/regenerate`)) }, 'Regenerate'),
          )
          if (m.status === 'done' && hasAlternative) {
            const n = m.preferred ?? 0
            actions.append(h('button', { type: 'button', 'aria-label': `Prefer this answer (${n})`, title: 'Prefer this answer to the other', onclick: () => void act(() => ctx.api.request('PUT', `${tbase}/messages/${m.id}/preferred`, { value: true })) }, `Prefer this ${n}`))
          }
        }
      }
      if (mine && canWrite) {
        actions.append(
          h('button', { type: 'button', 'aria-label': 'Edit your message', onclick: () => editInPlace(content.el, m) }, 'Edit'),
          h('button', { type: 'button', 'aria-label': 'Delete your message', onclick: () => { if (confirm('Delete this message?')) void act(() => ctx.api.delete(`${tbase}/messages/${m.id}`)) } }, 'Delete'),
        )
      }
      if (actions.childElementCount) item.append(actions)
      return item
    }

    function codeActions(m: Message, blocks: { index: number; el: HTMLElement }[], actions: HTMLElement) {
      const found = edits.get(m.id)
      if (!found || found === 'loading') return
      const done = applied.get(m.id)
      const appliable = found.filter((e) => !e.problem && !e.applied && e.file_id)
      for (const block of blocks) {
        const edit = found.find((e) => e.block === block.index)
        if (!edit) continue
        const bar = h('div', { class: 'code-actions' })
        if (edit.applied || done?.suggestions.some((s) => s.block === edit.block)) {
          bar.append(h('span', { class: 'muted' }, `Suggested in ${edit.path}`))
        } else if (edit.problem) {
          bar.append(h('span', { class: 'muted', title: edit.problem }, edit.problem))
        } else {
          bar.append(h('button', { type: 'button', class: 'apply-block', 'aria-label': `Apply as suggestion to ${edit.path}`, onclick: () => void apply(m.id, { blocks: [edit.block] }) }, 'Apply as suggestion'))
        }
        block.el.append(bar)
      }
      const files = new Set(appliable.map((e) => e.file_id))
      if (appliable.length > 1) {
        actions.append(h('button', { type: 'button', class: 'apply-all', onclick: () => void apply(m.id, { all: true }) }, `Apply all (${files.size} ${files.size === 1 ? 'file' : 'files'})`))
      }
      const setId = done?.set_id ?? found.find((e) => e.applied)?.applied?.set_id
      if (setId) {
        const result = setResults.get(setId)
        actions.append(h('button', { type: 'button', class: 'accept-set', onclick: () => void acceptSet(setId) }, 'Accept all suggestions'))
        if (result) actions.append(h('span', { class: 'muted set-result', role: 'status' }, result))
      }
    }

    async function loadEdits(id: string) {
      edits.set(id, 'loading')
      try {
        edits.set(id, (await ctx.api.get<{ edits: Edit[] }>(`${tbase}/messages/${id}/edits`)).edits)
      } catch {
        // An answer without appliable blocks (or no edits route): no apply buttons.
        edits.set(id, [])
      }
      schedule()
    }

    async function apply(id: string, what: { blocks: number[] } | { all: true }) {
      try {
        applied.set(id, await ctx.api.post<Applied>(`${tbase}/messages/${id}/apply`, what))
        announce.textContent = 'Suggested on the file; accept it there or here.'
        await loadEdits(id)
      } catch (error) {
        announce.textContent = problem(error, 'could not apply it')
      }
    }

    async function acceptSet(setId: string) {
      try {
        const r = await ctx.api.post<SetAccepted>(`${base}/suggestion-sets/${encodeURIComponent(setId)}/accept`)
        setResults.set(setId, `${r.accepted.length} accepted${r.stale.length ? `, ${r.stale.length} stale` : ''}${r.skipped.length ? `, ${r.skipped.length} skipped` : ''}`)
      } catch (error) {
        setResults.set(setId, problem(error, 'could not accept them'))
      }
      schedule()
    }

    async function act(call: () => Promise<unknown>) {
      try {
        await call()
      } catch (error) {
        announce.textContent = problem(error, 'that did not work')
      }
    }

    function editInPlace(shown: HTMLElement, m: Message) {
      const area = h('textarea', { 'aria-label': 'Edit your message', rows: 3 })
      area.value = m.text
      const form = h('form', { class: 'message-edit' }, area,
        h('button', { type: 'submit', class: 'primary' }, 'Save'),
        h('button', { type: 'button', onclick: () => { form.replaceWith(shown) } }, 'Cancel'))
      form.addEventListener('submit', (event) => {
        event.preventDefault()
        const text = area.value.trim()
        if (text) void act(() => ctx.api.patch(`${tbase}/messages/${m.id}`, { text }))
      })
      shown.replaceWith(form)
      area.focus()
    }

    function makeComposer() {
      const area = h('textarea', { class: 'composer-text', 'aria-label': 'Message', rows: 3, placeholder: 'Write a message; mention @assistant to ask it' })
      const ask = h('input', { type: 'checkbox', id: `ask-${thread.id}` })
      const send = h('button', { type: 'submit', class: 'primary' }, 'Send')
      const error = h('p', { class: 'notice error', role: 'alert', hidden: true })
      const form = h('form', { class: 'composer' }, area,
        h('div', { class: 'composer-row' },
          h('label', { class: 'ask-toggle', for: ask.id }, ask, ' Ask the assistant'),
          h('button', { type: 'button', class: 'link', onclick: () => { area.setRangeText('@assistant ', area.selectionStart, area.selectionEnd, 'end'); area.focus() } }, '@assistant'),
          send),
        error)
      let idle = 0
      const setTyping = (on: boolean) => {
        if (Boolean(awareness.getLocalState()?.typing) !== on) awareness.setLocalStateField('typing', on)
      }
      area.addEventListener('input', () => {
        setTyping(area.value.length > 0)
        clearTimeout(idle)
        idle = window.setTimeout(() => setTyping(false), TYPING_IDLE_MS)
      })
      area.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
          event.preventDefault()
          form.requestSubmit()
        }
      })
      form.addEventListener('submit', async (event) => {
        event.preventDefault()
        const text = area.value.trim()
        if (!text) return
        send.disabled = true
        error.hidden = true
        try {
          await ctx.api.post(`${tbase}/messages`, { text, ask: ask.checked })
          area.value = ''
          setTyping(false)
        } catch (e) {
          error.textContent = problem(e, 'could not send it')
          error.hidden = false
        } finally {
          send.disabled = false
          area.focus()
        }
      })
      return { el: form, dispose: () => clearTimeout(idle) }
    }

    const renderPresence = () => {
      const here: string[] = []
      const typers: string[] = []
      awareness.getStates().forEach((state, clientId) => {
        const name = (state.user as { name?: string } | undefined)?.name
        if (!name) return
        here.push(clientId === awareness.clientID ? `${name} (you)` : name)
        if (state.typing && clientId !== awareness.clientID) typers.push(name)
      })
      replace(present, here.map((name) => h('li', { class: 'name', title: name }, name)))
      typing.textContent = typers.length === 0 ? '' : typers.length === 1 ? `${typers[0]} is typing…` : `${typers.join(', ')} are typing…`
    }

    loadOlder.addEventListener('click', async () => {
      const minSeq = all()[0]?.seq
      if (!minSeq) return
      try {
        const page = await ctx.api.get<{ messages: Message[]; before: number | null }>(`${tbase}/messages?before=${minSeq}`)
        for (const m of page.messages) older.set(m.id, m)
        olderBefore = page.before
        if (!page.messages.length) olderBefore = null
        render()
      } catch (error) {
        announce.textContent = problem(error, 'could not load older messages')
      }
    })

    ydoc.on('update', schedule)
    awareness.on('change', renderPresence)
    renderPresence()
    render()
    composer?.el.querySelector('textarea')?.focus()
    return () => {
      cancelAnimationFrame(frame)
      composer?.dispose()
      awareness.off('change', renderPresence)
      live.dispose()
      ydoc.destroy()
    }
  }

  void showList()
  return { el, dispose: () => { closeThread?.(); closeThread = null } }
}
