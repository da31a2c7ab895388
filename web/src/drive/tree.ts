// The drive of a workspace: a live tree (the server-written `tree:{ws}` document) with
// create, rename, drag-and-drop move, trash and restore, uploads with progress, downloads.
import * as Y from 'yjs'
import { ApiError, type Member, type Role } from '../api'
import type { AppContext } from '../context'
import { h, notice, replace, restoreKept, takeKept } from '../dom'
import { SERVER_DOC_RESYNC_MS } from '../assistant/panel'
import { openProvider } from '../live'
import { href } from '../routes'
import { formatBytes, formatTime, TreeIndex, type DriveListing, type Entry } from './model'
import { download, upload } from './transfer'

const ENTRY_TYPE = 'application/x-tandem-entry'

type Editing =
  | { kind: 'create'; parent: string; what: 'text' | 'folder' }
  | { kind: 'rename'; id: string }
  | { kind: 'move'; id: string }
  | null

interface Upload {
  id: number
  name: string
  fraction: number
  error?: string
  abort(): void
}

export interface DriveTree {
  el: HTMLElement
  /** Resolves false when this server has no drive (the caller shows something else). */
  ready: Promise<boolean>
  dispose(): void
}

function message(error: unknown, fallback: string): string {
  return error instanceof ApiError ? error.message : fallback
}

export function driveTree(
  ctx: AppContext,
  opts: { ws: string; role: Role; compact?: boolean; current?: string; onChange?: (index: TreeIndex) => void },
): DriveTree {
  const { ws, role } = opts
  const base = `/api/workspaces/${encodeURIComponent(ws)}/drive`
  const canEdit = role !== 'viewer'
  const expandedKey = `tandem.expanded.${ws}`
  const expanded = new Set<string>(JSON.parse(sessionStorage.getItem(expandedKey) ?? '[]') as string[])
  const status = notice()
  const names = new Map<string, string>()
  const uploads = new Map<number, Upload>()
  let nextUpload = 1
  let listing: DriveListing | null = null
  let editing: Editing = null
  let index = new TreeIndex([])
  let live: Y.Map<unknown> | null = null
  // The one row Tab stops at (roving tabindex): the last row focused, else the open file.
  let active: string | null = opts.current ?? null
  let liveSynced = false
  const cleanups: (() => void)[] = []

  const usage = h('span', { class: 'usage muted' })
  const treeList = h('ul', { class: 'tree', role: 'tree', 'aria-label': 'Files and folders' })
  const trashBox = h('details', { class: 'trash' })
  const uploadList = h('ul', { class: 'uploads', 'aria-label': 'Uploads' })
  const fileInput = h('input', { type: 'file', multiple: true, hidden: true, 'aria-hidden': 'true', tabindex: '-1' })
  let uploadTarget = ''
  fileInput.addEventListener('change', () => {
    for (const file of Array.from(fileInput.files ?? [])) startUpload(file, uploadTarget)
    fileInput.value = ''
  })

  const toolbar = canEdit
    ? h(
        'div',
        { class: 'drive-toolbar', role: 'toolbar', 'aria-label': 'Drive actions' },
        h('button', { type: 'button', onclick: () => beginCreate('', 'text') }, 'New file'),
        h('button', { type: 'button', onclick: () => beginCreate('', 'folder') }, 'New folder'),
        h('button', { type: 'button', onclick: () => pickUpload('') }, 'Upload'),
        opts.compact ? null : h('button', { type: 'button', onclick: () => void downloadAll() }, 'Download all'),
      )
    : null

  const el = h(
    'section',
    { class: `drive card${opts.compact ? ' compact' : ''}`, 'aria-labelledby': `drive-title-${ws}` },
    h('div', { class: 'drive-head' }, h('h2', { id: `drive-title-${ws}` }, 'Files'), usage),
    toolbar,
    fileInput,
    uploadList,
    treeList,
    trashBox,
    status.el,
  )
  rootDropTarget(treeList)
  treeList.addEventListener('keydown', onTreeKey)
  treeList.addEventListener('focusin', (event) => {
    const item = (event.target as HTMLElement).closest<HTMLElement>('[role="treeitem"]')
    if (item) setTabStop(item)
  })

  // -- data ----------------------------------------------------------------------------------

  async function reload(): Promise<boolean> {
    try {
      listing = await ctx.api.get<DriveListing>(base)
    } catch (error) {
      if (error instanceof ApiError && (error.status === 503 || error.status === 404)) return false
      status.show(message(error, 'could not load the drive'))
      return true
    }
    usage.textContent = `${formatBytes(listing.usage_bytes)} of ${formatBytes(listing.quota_bytes)} used`
    if (!liveSynced) rebuild()
    return true
  }

  function rebuild(): void {
    const entries: Entry[] = liveSynced && live ? (Object.values(live.toJSON()) as Entry[]) : [...(listing?.entries ?? []), ...(listing?.trash ?? [])]
    index = new TreeIndex(entries)
    render()
    opts.onChange?.(index)
  }

  function follow(treeDoc: string): void {
    const doc = new Y.Doc()
    live = doc.getMap('entries')
    const connection = openProvider(ctx, treeDoc, doc, () => {
      // The REST listing still works; the tree just stops being live.
      liveSynced = false
    }, { resyncMs: SERVER_DOC_RESYNC_MS })
    connection.provider.on('sync', (synced) => {
      if (synced) {
        liveSynced = true
        rebuild()
      }
    })
    live.observeDeep(() => {
      if (liveSynced) rebuild()
    })
    cleanups.push(() => {
      connection.dispose()
      doc.destroy()
    })
  }

  async function loadNames(): Promise<void> {
    try {
      const { members } = await ctx.api.get<{ members: Member[] }>(`/api/workspaces/${encodeURIComponent(ws)}/members`)
      for (const member of members) names.set(member.id, member.username)
      render()
    } catch {
      // Names are a nicety; ids stay hidden without them.
    }
  }

  // -- rendering -----------------------------------------------------------------------------

  function render(): void {
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.focusKey
    const kept = takeKept(treeList)
    replace(treeList, rows(''))
    restoreKept(treeList, kept)
    if (index.childrenOf('').length === 0 && !(editing?.kind === 'create' && editing.parent === '')) {
      treeList.append(h('li', { class: 'empty muted', role: 'none' }, canEdit ? 'No files yet. Create one or drop files here.' : 'No files yet.'))
    }
    renderTrash()
    renderUploads()
    const stop = syncTabStop()
    const target = focused ? el.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focused)}"]`) : null
    const input = el.querySelector<HTMLInputElement>('input.inline-name, select.inline-move')
    if (input && document.activeElement !== input) input.focus()
    else if (target) target.focus()
    // The focused row went (trashed, or inside a folder someone collapsed): keep focus in the tree.
    else if (focused?.startsWith('item:')) stop?.focus()
  }

  function rows(parent: string): HTMLElement[] {
    const out = index.childrenOf(parent).map(row)
    if (editing?.kind === 'create' && editing.parent === parent) out.unshift(createRow(editing.parent, editing.what))
    return out
  }

  function row(entry: Entry): HTMLElement {
    const folder = entry.kind === 'folder'
    const open = folder && expanded.has(entry.id)
    const current = entry.id === opts.current
    const label = editing?.kind === 'rename' && editing.id === entry.id ? renameInput(entry) : nameControl(entry, open)
    const line = h(
      'div',
      { class: `row${current ? ' current' : ''}`, draggable: canEdit ? 'true' : null, 'data-id': entry.id },
      h('span', { class: `icon icon-${entry.kind}`, 'aria-hidden': 'true' }, folder ? (open ? '▾' : '▸') : entry.kind === 'text' ? '≡' : '◆'),
      label,
      opts.compact ? null : h('span', { class: 'meta muted' }, meta(entry)),
      menu(entry),
    )
    if (canEdit) {
      line.addEventListener('dragstart', (event) => {
        event.dataTransfer?.setData(ENTRY_TYPE, entry.id)
        event.dataTransfer?.setData('text/plain', entry.name)
        if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move'
      })
      if (folder) dropTarget(line, entry.id)
    }
    const item = h(
      'li',
      {
        class: 'entry',
        role: 'treeitem',
        'aria-label': entry.name,
        'aria-expanded': folder ? String(open) : null,
        tabindex: '-1',
        'data-id': entry.id,
        'data-kind': entry.kind,
        'data-name': entry.name,
        'data-focus-key': `item:${entry.id}`,
      },
      line,
    )
    if (editing?.kind === 'move' && editing.id === entry.id) item.append(moveForm(entry))
    if (open) item.append(h('ul', { role: 'group', 'aria-label': `In ${entry.name}` }, rows(entry.id)))
    return item
  }

  function nameControl(entry: Entry, open: boolean): HTMLElement {
    if (entry.kind === 'folder') {
      return h(
        'button',
        {
          type: 'button',
          class: 'name link-like',
          'aria-expanded': String(open),
          tabindex: '-1',
          'data-focus-key': `name:${entry.id}`,
          onclick: () => toggle(entry.id),
        },
        entry.name,
      )
    }
    return h(
      'a',
      {
        class: 'name',
        href: href.file(ws, entry.id),
        'aria-current': entry.id === opts.current ? 'page' : null,
        tabindex: '-1',
        'data-focus-key': `name:${entry.id}`,
        title: index.path(entry),
      },
      entry.name,
    )
  }

  function meta(entry: Entry): string {
    const who = names.get(entry.modified_by) ?? ''
    const size = entry.kind === 'folder' ? '' : `${formatBytes(entry.size)} · `
    return `${size}${who ? who + ' · ' : ''}${formatTime(entry.modified_at)}`
  }

  function menu(entry: Entry): HTMLElement {
    const items: HTMLElement[] = []
    const item = (label: string, action: () => void, danger = false) =>
      h('button', { type: 'button', class: danger ? 'danger' : null, onclick: (event: Event) => { (event.currentTarget as HTMLElement).closest('details')!.open = false; action() } }, label)
    if (entry.kind === 'folder' && canEdit) {
      items.push(item('New file here', () => beginCreate(entry.id, 'text')))
      items.push(item('New folder here', () => beginCreate(entry.id, 'folder')))
      items.push(item('Upload here', () => pickUpload(entry.id)))
    }
    items.push(item(entry.kind === 'folder' ? 'Download as zip' : 'Download', () => void downloadEntry(entry)))
    if (canEdit) {
      items.push(item('Rename', () => setEditing({ kind: 'rename', id: entry.id })))
      items.push(item('Move to…', () => setEditing({ kind: 'move', id: entry.id })))
      items.push(item('Move to trash', () => void trash(entry), true))
    }
    const details = h(
      'details',
      { class: 'menu', 'data-keep': `menu:${entry.id}` },
      h('summary', { 'aria-label': `Actions for ${entry.name}`, tabindex: '-1', 'data-focus-key': `menu:${entry.id}` }, '⋯'),
      h('div', { class: 'menu-items' }, items),
    )
    details.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || !details.open) return
      event.preventDefault()
      details.open = false
      details.closest<HTMLElement>('[role="treeitem"]')?.focus()
    })
    return details
  }

  function createRow(parent: string, what: 'text' | 'folder'): HTMLElement {
    const input = h('input', {
      class: 'inline-name',
      'data-keep': `create:${parent}:${what}`,
      'aria-label': what === 'folder' ? 'New folder name' : 'New file name',
      placeholder: what === 'folder' ? 'Folder name' : 'File name, e.g. notes.md',
      autocomplete: 'off',
      spellcheck: 'false',
    })
    const form = h(
      'form',
      {
        class: 'inline-form tight',
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault()
          void create(parent, what, input.value.trim())
        },
      },
      input,
      h('button', { type: 'submit', class: 'primary' }, 'Create'),
      h('button', { type: 'button', onclick: () => setEditing(null) }, 'Cancel'),
    )
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') setEditing(null)
    })
    return h('li', { class: 'entry creating', role: 'none' }, form)
  }

  function renameInput(entry: Entry): HTMLElement {
    const input = h('input', { class: 'inline-name', value: entry.name, 'data-keep': `rename:${entry.id}`, 'aria-label': `New name for ${entry.name}`, autocomplete: 'off', spellcheck: 'false' })
    queueMicrotask(() => {
      if (input.dataset.restored) return // a re-render: the user's own text and selection stay
      const dot = entry.kind === 'folder' ? -1 : entry.name.lastIndexOf('.')
      input.setSelectionRange(0, dot > 0 ? dot : entry.name.length)
    })
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') setEditing(null)
    })
    return h(
      'form',
      {
        class: 'inline-form tight',
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault()
          void act(() => ctx.api.patch(`${base}/entries/${entry.id}`, { name: input.value.trim() }), 'could not rename')
        },
      },
      input,
      h('button', { type: 'submit' }, 'Save'),
    )
  }

  function moveForm(entry: Entry): HTMLElement {
    const choices = [{ id: '', label: 'Top of the drive' }, ...index.folders().filter((f) => !index.isWithin(f.id, entry.id)).map((f) => ({ id: f.id, label: index.path(f) }))]
    const select = h(
      'select',
      { class: 'inline-move', 'data-keep': `move:${entry.id}`, 'aria-label': `Move ${entry.name} to` },
      choices.map((c) => h('option', { value: c.id, selected: c.id === (entry.parent_id ?? '') }, c.label)),
    )
    return h(
      'form',
      {
        class: 'inline-form tight move-form',
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault()
          void move(entry.id, select.value)
        },
      },
      select,
      h('button', { type: 'submit' }, 'Move'),
      h('button', { type: 'button', onclick: () => setEditing(null) }, 'Cancel'),
    )
  }

  function renderTrash(): void {
    const trashed = index.trashed()
    replace(
      trashBox,
      h('summary', {}, `Trash (${trashed.length})`),
      trashed.length === 0
        ? h('p', { class: 'muted' }, 'The trash is empty.')
        : h(
            'ul',
            { class: 'trash-list', role: 'list' },
            trashed.map((entry) =>
              h(
                'li',
                { 'data-name': entry.name },
                h('span', { class: 'name' }, entry.name),
                h('span', { class: 'meta muted' }, `trashed ${formatTime(entry.trashed_at ?? 0)}${entry.trashed_by && names.get(entry.trashed_by) ? ' by ' + names.get(entry.trashed_by) : ''}`),
                canEdit ? h('button', { type: 'button', onclick: () => void restore(entry) }, 'Restore') : null,
                role === 'owner' ? h('button', { type: 'button', class: 'danger', onclick: () => void purge(entry) }, 'Delete forever') : null,
              ),
            ),
          ),
    )
  }

  function renderUploads(): void {
    replace(
      uploadList,
      [...uploads.values()].map((u) =>
        h(
          'li',
          { 'data-name': u.name },
          h('span', { class: 'name' }, u.name),
          u.error
            ? h('span', { class: 'error-text' }, u.error)
            : h('progress', { max: '1', value: String(u.fraction), 'aria-label': `Uploading ${u.name}` }),
          h('button', { type: 'button', class: 'link', onclick: () => (u.error ? dismissUpload(u.id) : u.abort()) }, u.error ? 'Dismiss' : 'Cancel'),
        ),
      ),
    )
  }

  // -- keyboard (the WAI-ARIA tree pattern) ---------------------------------------------------

  /** The rows on screen, top to bottom (a collapsed folder renders no children). */
  function treeItems(): HTMLElement[] {
    return Array.from(treeList.querySelectorAll<HTMLElement>('[role="treeitem"]'))
  }

  function setTabStop(item: HTMLElement): void {
    active = item.dataset.id ?? null
    for (const other of treeItems()) other.tabIndex = other === item ? 0 : -1
  }

  function syncTabStop(): HTMLElement | undefined {
    const items = treeItems()
    const stop = items.find((i) => i.dataset.id === active) ?? items.find((i) => i.dataset.id === opts.current) ?? items[0]
    if (stop) setTabStop(stop)
    return stop
  }

  function focusItem(item: Element | null | undefined): void {
    if (!(item instanceof HTMLElement)) return
    setTabStop(item)
    item.focus()
  }

  function openMenu(item: HTMLElement): void {
    const details = item.querySelector<HTMLDetailsElement>(':scope > .row > details.menu')
    if (!details) return
    details.open = true
    details.querySelector<HTMLElement>('.menu-items button')?.focus()
  }

  function onTreeKey(event: KeyboardEvent): void {
    const target = event.target as HTMLElement
    // Keys act on a focused row, or on its name when a click put focus there; never on inputs.
    const item = target.matches('[role="treeitem"], .row > .name') ? target.closest<HTMLElement>('[role="treeitem"]') : null
    if (!item || event.altKey || event.ctrlKey || event.metaKey) return
    const id = item.dataset.id ?? ''
    const folder = item.dataset.kind === 'folder'
    const items = treeItems()
    const at = items.indexOf(item)
    switch (event.key) {
      case 'ArrowDown':
        focusItem(items[at + 1])
        break
      case 'ArrowUp':
        focusItem(items[at - 1])
        break
      case 'Home':
        focusItem(items[0])
        break
      case 'End':
        focusItem(items[items.length - 1])
        break
      case 'ArrowRight':
        if (folder && !expanded.has(id)) {
          focusItem(item)
          toggle(id)
        } else if (folder) focusItem(item.querySelector(':scope > [role="group"] > [role="treeitem"]'))
        break
      case 'ArrowLeft':
        if (folder && expanded.has(id)) {
          focusItem(item)
          toggle(id)
        } else focusItem(item.parentElement?.closest('[role="treeitem"]'))
        break
      case 'Enter':
        if (folder) {
          focusItem(item)
          toggle(id)
        } else ctx.navigate(href.file(ws, id))
        break
      case 'ContextMenu':
        openMenu(item)
        break
      case 'F10':
        if (!event.shiftKey) return
        openMenu(item)
        break
      default:
        return
    }
    event.preventDefault()
  }

  // -- actions -------------------------------------------------------------------------------

  function setEditing(next: Editing): void {
    editing = next
    render()
  }

  function toggle(id: string): void {
    if (expanded.has(id)) expanded.delete(id)
    else expanded.add(id)
    sessionStorage.setItem(expandedKey, JSON.stringify([...expanded]))
    render()
  }

  function beginCreate(parent: string, what: 'text' | 'folder'): void {
    if (parent) expanded.add(parent)
    setEditing({ kind: 'create', parent, what })
  }

  async function act(run: () => Promise<unknown>, failure: string): Promise<boolean> {
    status.clear()
    try {
      await run()
      editing = null
      await reload()
      render()
      return true
    } catch (error) {
      status.show(message(error, failure))
      return false
    }
  }

  async function create(parent: string, what: 'text' | 'folder', name: string): Promise<void> {
    let created: Entry | null = null
    const ok = await act(async () => {
      const body = { parent_id: parent || null, name }
      created = what === 'folder' ? await ctx.api.post<Entry>(`${base}/folders`, body) : await ctx.api.post<Entry>(`${base}/files`, { ...body, text: '' })
    }, `could not create the ${what === 'folder' ? 'folder' : 'file'}`)
    const made = created as Entry | null
    if (ok && made) {
      status.show(`created ${made.name}`, 'info')
      if (made.kind === 'text') ctx.navigate(href.file(ws, made.id))
    }
  }

  async function move(id: string, parent: string): Promise<void> {
    const entry = index.byId.get(id)
    if (!entry || (entry.parent_id ?? '') === parent) return setEditing(null)
    if (parent && index.isWithin(parent, id)) {
      status.show('a folder cannot move into itself')
      return
    }
    if (parent) expanded.add(parent)
    await act(() => ctx.api.patch(`${base}/entries/${id}`, { parent_id: parent || null }), 'could not move it')
  }

  async function trash(entry: Entry): Promise<void> {
    const ok = await act(() => ctx.api.delete(`${base}/entries/${entry.id}`), 'could not move it to the trash')
    if (!ok) return
    status.show(`moved ${entry.name} to the trash`, 'info')
    status.el.append(' ', h('button', { type: 'button', class: 'link', onclick: () => void restore(entry) }, 'Undo'))
    if (entry.id === opts.current || (opts.current && index.isWithin(opts.current, entry.id))) ctx.navigate(href.workspace(ws))
  }

  async function restore(entry: Entry): Promise<void> {
    if (await act(() => ctx.api.post(`${base}/entries/${entry.id}/restore`, {}), 'could not restore it')) {
      status.show(`restored ${entry.name}`, 'info')
    }
  }

  async function purge(entry: Entry): Promise<void> {
    if (!confirm(`Delete ${entry.name} for good? This cannot be undone.`)) return
    await act(() => ctx.api.delete(`${base}/trash/${entry.id}`), 'could not delete it')
  }

  function pickUpload(parent: string): void {
    uploadTarget = parent
    fileInput.click()
  }

  function startUpload(file: File, parent: string): void {
    const id = nextUpload++
    const query = new URLSearchParams({ name: file.name })
    if (parent) query.set('parent_id', parent)
    const job = upload(ctx.session, `${base}/upload?${query}`, file, (fraction) => {
      const u = uploads.get(id)
      if (u) {
        u.fraction = fraction
        const bar = uploadList.querySelector<HTMLProgressElement>(`li[data-name="${CSS.escape(file.name)}"] progress`)
        if (bar) bar.value = fraction
        else renderUploads()
      }
    })
    uploads.set(id, { id, name: file.name, fraction: 0, abort: job.abort })
    if (parent) expanded.add(parent)
    renderUploads()
    job.done.then(
      async () => {
        uploads.delete(id)
        await reload()
        render()
        status.show(`uploaded ${file.name}`, 'info')
      },
      (error) => {
        const u = uploads.get(id)
        if (u) u.error = message(error, 'upload failed')
        renderUploads()
      },
    )
  }

  function dismissUpload(id: number): void {
    uploads.delete(id)
    renderUploads()
  }

  async function downloadEntry(entry: Entry): Promise<void> {
    status.clear()
    try {
      await download(ctx.session, `${base}/entries/${entry.id}/content`, entry.kind === 'folder' ? `${entry.name}.zip` : entry.name)
    } catch (error) {
      status.show(message(error, 'could not download it'))
    }
  }

  async function downloadAll(): Promise<void> {
    status.clear()
    try {
      await download(ctx.session, `${base}/archive`, 'drive.zip')
    } catch (error) {
      status.show(message(error, 'could not download the drive'))
    }
  }

  // -- drag and drop -------------------------------------------------------------------------

  function accepts(event: DragEvent): boolean {
    const types = event.dataTransfer?.types ?? []
    return canEdit && (types.includes(ENTRY_TYPE) || types.includes('Files'))
  }

  function dropTarget(target: HTMLElement, folderId: string): void {
    target.addEventListener('dragover', (event) => {
      if (!accepts(event)) return
      event.preventDefault()
      event.stopPropagation()
      target.classList.add('drop-here')
    })
    target.addEventListener('dragleave', () => target.classList.remove('drop-here'))
    target.addEventListener('drop', (event) => {
      target.classList.remove('drop-here')
      if (!accepts(event)) return
      event.preventDefault()
      event.stopPropagation()
      const id = event.dataTransfer?.getData(ENTRY_TYPE)
      if (id) void move(id, folderId)
      else for (const file of Array.from(event.dataTransfer?.files ?? [])) startUpload(file, folderId)
    })
  }

  function rootDropTarget(target: HTMLElement): void {
    dropTarget(target, '')
  }

  // -- start ---------------------------------------------------------------------------------

  const ready = reload().then((available) => {
    if (available && listing) {
      follow(listing.tree_doc)
      void loadNames()
    }
    return available
  })
  return {
    el,
    ready,
    dispose() {
      for (const u of uploads.values()) if (!u.error) u.abort()
      for (const cleanup of cleanups.splice(0)) cleanup()
    },
  }
}
