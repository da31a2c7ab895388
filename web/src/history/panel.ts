// A document's history: who edited when, and restore points to look at or go back to.
import { ApiError } from '../api'
import type { AppContext } from '../context'
import { h, notice, replace } from '../dom'
import { formatTime } from '../drive/model'

interface Session {
  id: string
  username: string
  start: number
  end: number
  inserted: number
  deleted: number
}

interface Point {
  id: string
  at: number
  reason: 'timed' | 'manual' | 'before_restore' | string
  size: number
}

const REASONS: Record<string, string> = {
  timed: 'Automatic',
  manual: 'Saved by hand',
  before_restore: 'Before a restore',
}

export function historyPanel(ctx: AppContext, opts: { docId: string; canRestore: boolean }): { el: HTMLElement; load(): void } {
  const api = `/api/docs/${encodeURIComponent(opts.docId)}/history`
  const status = notice()
  const points = h('ul', { class: 'point-list', 'aria-label': 'Restore points' })
  const sessions = h('ul', { class: 'session-list', 'aria-label': 'Edit sessions' })
  const preview = h('div', { class: 'preview', hidden: true })

  async function load(): Promise<void> {
    status.clear()
    try {
      const history = await ctx.api.get<{ sessions: Session[]; points: Point[] }>(api)
      replace(points, history.points.length ? history.points.map(pointRow) : h('li', { class: 'muted' }, 'No restore points yet.'))
      replace(
        sessions,
        history.sessions.length
          ? history.sessions.slice(0, 50).map((s) =>
              h('li', {}, h('strong', {}, s.username), ' ', h('span', { class: 'muted' }, `${formatTime(s.start)}–${formatTime(s.end)}`), ' ', h('span', { class: 'delta' }, h('ins', {}, `+${s.inserted}`), ' ', h('del', {}, `−${s.deleted}`))),
            )
          : h('li', { class: 'muted' }, 'No edits recorded yet.'),
      )
    } catch (error) {
      status.show(error instanceof ApiError ? error.message : 'could not load the history')
    }
  }

  function pointRow(point: Point): HTMLElement {
    return h(
      'li',
      { 'data-reason': point.reason },
      h('span', { class: 'when' }, formatTime(point.at)),
      h('span', { class: 'muted' }, `${REASONS[point.reason] ?? point.reason} · ${point.size} characters`),
      h(
        'span',
        { class: 'point-actions' },
        h('button', { type: 'button', class: 'link', onclick: () => void show(point) }, 'Preview'),
        opts.canRestore ? h('button', { type: 'button', onclick: () => void restore(point) }, 'Restore') : null,
      ),
    )
  }

  async function show(point: Point): Promise<void> {
    try {
      const full = await ctx.api.get<Point & { text: string }>(`${api}/points/${encodeURIComponent(point.id)}`)
      replace(preview, h('h4', {}, `As it was ${formatTime(point.at)}`), h('pre', {}, full.text || '(empty)'), h('button', { type: 'button', class: 'link', onclick: () => (preview.hidden = true) }, 'Close preview'))
      preview.hidden = false
    } catch (error) {
      status.show(error instanceof ApiError ? error.message : 'could not load that point')
    }
  }

  async function restore(point: Point): Promise<void> {
    if (!confirm(`Bring the text back to how it was ${formatTime(point.at)}? Everyone sees the change; a restore point of the current text is saved first.`)) return
    try {
      await ctx.api.post(`${api}/points/${encodeURIComponent(point.id)}/restore`)
      status.show('restored; to undo, restore the point saved just before', 'info')
      await load()
    } catch (error) {
      status.show(error instanceof ApiError ? error.message : 'could not restore')
    }
  }

  async function save(): Promise<void> {
    try {
      await ctx.api.post(`${api}/points`)
      status.show('restore point saved', 'info')
      await load()
    } catch (error) {
      status.show(error instanceof ApiError ? error.message : 'could not save a restore point')
    }
  }

  const el = h(
    'aside',
    { class: 'history side-panel', id: 'history-panel', 'aria-labelledby': 'history-title' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'history-title' }, 'History'), h('button', { type: 'button', class: 'link', onclick: () => void load() }, 'Refresh')),
    opts.canRestore ? h('button', { type: 'button', onclick: () => void save() }, 'Save a restore point') : null,
    status.el,
    h('h3', {}, 'Restore points'),
    points,
    preview,
    h('h3', {}, 'Edit sessions'),
    sessions,
  )
  return { el, load: () => void load() }
}
