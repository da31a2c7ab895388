// A file of the drive: the tree beside it, and the editor for text files or a download
// card for other files.
import { ApiError, type Workspace } from '../api'
import type { AppContext, View } from '../context'
import { h, replace } from '../dom'
import { formatBytes, formatTime, type Entry, type TreeIndex } from '../drive/model'
import { download } from '../drive/transfer'
import { driveTree } from '../drive/tree'
import { href } from '../routes'
import { editorView } from './editor'

export function fileView(ctx: AppContext, ws: string, entryId: string, line?: number): View {
  const main = h('div', { class: 'file-main' }, h('p', { class: 'loading page' }, 'Opening…'))
  const side = h('aside', { class: 'sidebar', 'aria-label': 'Drive' })
  const toggle = h('button', { type: 'button', class: 'sidebar-toggle', 'aria-expanded': 'false', 'aria-controls': 'drive-sidebar' }, 'Files')
  side.id = 'drive-sidebar'
  toggle.addEventListener('click', () => {
    const open = side.classList.toggle('open')
    toggle.setAttribute('aria-expanded', String(open))
  })
  const root = h('div', { class: 'file-layout' }, toggle, side, main)
  const cleanups: (() => void)[] = []
  const view: View = {
    el: root,
    title: 'File',
    dispose() {
      for (const cleanup of cleanups.splice(0).reverse()) cleanup()
    },
  }

  async function open() {
    const base = `/api/workspaces/${encodeURIComponent(ws)}`
    let entry: Entry
    let workspace: Workspace
    try {
      ;[workspace, entry] = await Promise.all([
        ctx.api.get<Workspace>(base),
        ctx.api.get<Entry>(`${base}/drive/entries/${encodeURIComponent(entryId)}`),
      ])
    } catch (error) {
      replace(
        main,
        h('div', { class: 'page narrow' },
          h('h1', {}, 'File not found'),
          h('p', {}, error instanceof ApiError ? error.message : 'It may have been deleted.'),
          h('a', { href: href.workspace(ws) }, 'Back to the workspace')),
      )
      return
    }
    view.title = entry.name
    document.title = `${entry.name} · Tandem`
    // The tree is live: follow this file's renames, and say so when it goes to the trash.
    const banner = h('p', { class: 'notice error file-gone', role: 'status', hidden: true })
    let shownName = entry.name
    const onChange = (index: TreeIndex) => {
      const now = index.byId.get(entry.id)
      if (!now) return
      if (now.name !== shownName) {
        shownName = now.name
        const title = main.querySelector('.doc-title, h1')
        if (title) title.textContent = now.name
        document.title = `${now.name} · Tandem`
        ctx.setCrumbs([{ label: workspace.name, href: href.workspace(ws) }, { label: now.name }])
      }
      const gone = !index.isLive(now)
      banner.hidden = !gone
      banner.textContent = gone ? 'This file is in the trash now. Restore it from the trash to keep it.' : ''
    }
    const tree = driveTree(ctx, { ws, role: workspace.role, compact: true, current: entry.id, onChange })
    cleanups.push(tree.dispose)
    side.append(tree.el)
    if (entry.kind === 'folder') {
      ctx.navigate(href.workspace(ws))
    } else if (entry.kind === 'text' && entry.doc_id) {
      const editor = editorView(ctx, ws, entry.doc_id, entry.name, line)
      cleanups.push(() => editor.dispose?.())
      replace(main, banner, editor.el)
    } else {
      ctx.setCrumbs([{ label: workspace.name, href: href.workspace(ws) }, { label: entry.name }])
      replace(main, banner, binaryCard(ctx, ws, entry))
    }
  }
  void open()
  return view
}

function binaryCard(ctx: AppContext, ws: string, entry: Entry): HTMLElement {
  const status = h('p', { class: 'notice error', hidden: true, role: 'status' })
  return h(
    'div',
    { class: 'page narrow' },
    h(
      'section',
      { class: 'card' },
      h('h1', {}, entry.name),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Size'), h('dd', {}, formatBytes(entry.size)),
        h('dt', {}, 'Type'), h('dd', {}, entry.content_type ?? 'unknown'),
        h('dt', {}, 'Modified'), h('dd', {}, formatTime(entry.modified_at)),
      ),
      h('p', { class: 'muted' }, 'This file is stored as bytes; download it to open it.'),
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          onclick: async () => {
            try {
              await download(ctx.session, `/api/workspaces/${encodeURIComponent(ws)}/drive/entries/${encodeURIComponent(entry.id)}/content`, entry.name)
            } catch (error) {
              status.textContent = error instanceof ApiError ? error.message : 'could not download it'
              status.hidden = false
            }
          },
        },
        'Download',
      ),
      status,
    ),
  )
}
