// The editor: CodeMirror 6 bound to the document's Y.Text `content` over the stock
// y-websocket provider, with remote cursors, presence, a connection indicator and
// read-only mode for viewers.
import { Compartment, EditorState } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { yCollab } from 'y-codemirror.next'
import * as Y from 'yjs'
import { ApiError, type DocInfo, type Workspace } from '../api'
import type { AppContext, View } from '../context'
import { h, replace } from '../dom'
import { assistantPanel } from '../assistant/panel'
import { historyPanel } from '../history/panel'
import { threadsPanel } from '../assistant/threads/panel'
import { userColor } from '../editor/colors'
import { ConnectionIndicator, refusalMessage } from '../editor/connection'
import { type Language, LANGUAGES, languageById, languageForName } from '../editor/languages'
import { presenceList } from '../editor/presence'
import { baseSetup } from '../editor/setup'
import { revealOnSync } from '../search/reveal'
import { rememberDoc } from '../recent'
import { openProvider } from '../live'
import { href } from '../routes'

export function editorView(ctx: AppContext, ws: string, docId: string, name?: string, line?: number): View {
  const root = h('div', { class: 'editor-page' }, h('p', { class: 'loading' }, 'Opening document…'))
  const cleanups: (() => void)[] = []
  let disposed = false
  const view: View = {
    el: root,
    title: name ?? 'Document',
    dispose() {
      disposed = true
      for (const cleanup of cleanups.splice(0).reverse()) cleanup()
    },
  }

  async function open() {
    let info: DocInfo
    let workspace: Workspace | null = null
    try {
      ;[info, workspace] = await Promise.all([
        ctx.api.get<DocInfo>(`/api/docs/${encodeURIComponent(docId)}`),
        ctx.api.get<Workspace>(`/api/workspaces/${encodeURIComponent(ws)}`).catch(() => null),
      ])
    } catch (error) {
      const missing = error instanceof ApiError && (error.status === 404 || error.status === 403)
      replace(
        root,
        h('div', { class: 'page narrow' },
          h('h1', {}, missing ? 'Document not found' : 'Cannot open this document'),
          h('p', {}, missing ? 'It does not exist, or you are not a member of its workspace.' : error instanceof ApiError ? error.message : 'Try again in a moment.'),
          h('a', { href: href.workspace(ws) }, 'Back to the workspace')),
      )
      return
    }
    if (disposed) return
    ctx.setCrumbs([{ label: workspace?.name ?? 'Workspace', href: href.workspace(info.workspace_id) }, { label: name ?? 'Untitled document' }])
    rememberDoc(info.workspace_id, docId, name ?? `Untitled document ${docId.slice(0, 6)}`)
    mount(info)
  }

  function mount(info: DocInfo) {
    const user = ctx.session.user!
    const doc = new Y.Doc()
    const ytext = doc.getText('content')
    let indicator: ConnectionIndicator | null = null
    const live = openProvider(ctx, docId, doc, (code, reason) => indicator?.refused(refusalMessage(code, reason)))
    const provider = live.provider
    cleanups.push(() => {
      live.dispose()
      doc.destroy()
    })
    const me = { id: user.id, name: user.username, ...userColor(user.id) }
    provider.awareness.setLocalStateField('user', me)
    // Say goodbye explicitly when the tab goes away, so others drop this caret at once
    // rather than when the server or their 30 s awareness timeout notices.
    const pageHide = () => provider.awareness.setLocalState(null)
    const pageShow = (event: PageTransitionEvent) => {
      if (event.persisted) provider.awareness.setLocalStateField('user', me)
    }
    window.addEventListener('pagehide', pageHide)
    window.addEventListener('pageshow', pageShow)
    cleanups.push(() => {
      window.removeEventListener('pagehide', pageHide)
      window.removeEventListener('pageshow', pageShow)
    })

    indicator = new ConnectionIndicator(provider, doc)
    const shown = indicator
    cleanups.push(() => shown.dispose())

    const languageKey = `tandem.lang.${docId}`
    const language = name ? languageForName(name) : languageById(localStorage.getItem(languageKey))
    const languageSlot = new Compartment()
    const undoManager = new Y.UndoManager(ytext)
    const assistant = assistantPanel(ctx, { docId, ydoc: doc, ytext, awareness: provider.awareness, canDecide: !info.read_only, language: language.id === 'text' ? undefined : language.label })
    cleanups.push(assistant.dispose)
    const editor = new EditorView({
      state: EditorState.create({
        doc: ytext.toString(),
        extensions: [
          baseSetup(`Text of ${name ?? 'the document'}`),
          languageSlot.of([]),
          EditorState.readOnly.of(info.read_only),
          yCollab(ytext, provider.awareness, { undoManager }),
          assistant.extension,
        ],
      }),
    })
    cleanups.push(() => editor.destroy())
    let wanted = ''
    const setLanguage = (chosen: Language) => {
      wanted = chosen.id
      chosen.load().then(
        (extension) => {
          if (!disposed && wanted === chosen.id) editor.dispatch({ effects: languageSlot.reconfigure(extension) })
        },
        () => console.warn(`could not load ${chosen.label} highlighting`),
      )
    }
    setLanguage(language)
    assistant.attach(editor)

    const languageSelect = h(
      'select',
      { id: 'language', 'aria-label': 'Syntax highlighting', disabled: Boolean(name) },
      LANGUAGES.map((l) => h('option', { value: l.id, selected: l.id === language.id }, l.label)),
    )
    languageSelect.addEventListener('change', () => {
      localStorage.setItem(languageKey, languageSelect.value)
      setLanguage(languageById(languageSelect.value))
    })

    const history = historyPanel(ctx, { docId, canRestore: !info.read_only })
    const threads = threadsPanel(ctx, { ws: info.workspace_id, role: info.role, docId })
    cleanups.push(threads.dispose)
    const panels = { assistant: assistant.el, history: history.el, threads: threads.el }
    const toggles = {
      assistant: h('button', { type: 'button', class: 'panel-toggle', 'aria-controls': 'assistant-panel', 'aria-pressed': 'true' }, 'Assistant'),
      history: h('button', { type: 'button', class: 'panel-toggle', 'aria-controls': 'history-panel', 'aria-pressed': 'false' }, 'History'),
      threads: h('button', { type: 'button', class: 'panel-toggle', 'aria-controls': 'threads-panel', 'aria-pressed': 'false' }, 'Conversations'),
    }
    history.el.hidden = true
    threads.el.hidden = true
    const show = (which: keyof typeof panels | null) => {
      for (const key of Object.keys(panels) as (keyof typeof panels)[]) {
        panels[key].hidden = key !== which
        toggles[key].setAttribute('aria-pressed', String(key === which))
      }
      if (which === 'history') history.load()
    }
    for (const key of Object.keys(toggles) as (keyof typeof toggles)[]) {
      toggles[key].addEventListener('click', () => show(panels[key].hidden ? key : null))
    }

    const presence = presenceList(provider.awareness)
    cleanups.push(presence.dispose)

    const beforeUnload = (event: BeforeUnloadEvent) => {
      if (shown.el.dataset.unsynced === 'true') event.preventDefault()
    }
    window.addEventListener('beforeunload', beforeUnload)
    cleanups.push(() => window.removeEventListener('beforeunload', beforeUnload))

    replace(
      root,
      h(
        'div',
        { class: 'doc-bar' },
        h('h1', { class: 'doc-title' }, name ?? 'Untitled document'),
        info.read_only ? h('span', { class: 'badge read-only', title: 'You can read and follow along, not edit' }, 'Read only') : null,
        h('label', { class: 'inline-label', for: 'language' }, 'Language'),
        languageSelect,
        indicator.el,
        presence.el,
        h('span', { class: 'panel-toggles' }, toggles.assistant, toggles.history, toggles.threads),
      ),
      h('div', { class: 'doc-body' }, h('div', { class: 'editor-host' }, editor.dom), assistant.el, history.el, threads.el),
    )
    if (!info.read_only) editor.focus()
    if (line) cleanups.push(revealOnSync(provider, editor, line))
  }

  void open()
  return view
}
