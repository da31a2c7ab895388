// A workspace's learning page: the model the assistant uses there (with the owner's rollback),
// the owner's switch for training, every daily run of `tandem finetune` newest first with its
// loss curve, scores and verdict, and the models trained so far.
import { ApiError, type Workspace } from '../api'
import type { AppContext, View } from '../context'
import { h, notice, replace } from '../dom'
import { formatTime } from '../drive/model'
import '../learning/learning.css'
import { lossChart } from '../learning/loss_chart'
import {
  formatDuration,
  formatNumber,
  formatShare,
  isTraining,
  newestFirst,
  outcomeOf,
  stateOf,
  type LearningStatus,
  type ModelEntry,
  type Run,
  type Scores,
} from '../learning/model'
import { href } from '../routes'

/** How often the page asks again while a run is training (its progress moves). */
const TRAINING_REFRESH_MS = 10_000

function message(error: unknown, fallback: string): string {
  return error instanceof ApiError ? error.message : fallback
}

const count = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString())

export function learningView(ctx: AppContext, ws: string): View {
  const base = `/api/workspaces/${encodeURIComponent(ws)}`
  const root = h('div', { class: 'page learning' }, h('p', { class: 'loading' }, 'Loading…'))
  let refresh: ReturnType<typeof setTimeout> | undefined
  let disposed = false
  const view: View = {
    el: root,
    title: 'Learning',
    dispose() {
      disposed = true
      clearTimeout(refresh)
    },
  }
  const status = notice()
  const modelCard = h('section', { class: 'card learning-model', 'aria-labelledby': 'learning-model-title' })
  const runsList = h('ol', { class: 'run-list', 'aria-labelledby': 'learning-runs-title' })
  const modelsSlot = h('div', {})

  async function open(): Promise<void> {
    let workspace: Workspace
    let learning: LearningStatus
    try {
      ;[workspace, learning] = await Promise.all([ctx.api.get<Workspace>(base), ctx.api.get<LearningStatus>(`${base}/learning`)])
    } catch (error) {
      const unavailable = error instanceof ApiError && error.status === 503
      replace(
        root,
        h('h1', {}, 'Learning'),
        h('p', {}, unavailable ? 'This server does not train workspace models.' : message(error, 'could not load the learning page')),
        h('a', { href: href.workspace(ws) }, 'Back to the workspace'),
      )
      return
    }
    if (disposed) return
    view.title = `Learning · ${workspace.name}`
    document.title = `${view.title} · Tandem`
    ctx.setCrumbs([{ label: workspace.name, href: href.workspace(ws) }, { label: 'Learning' }])
    const owner = workspace.role === 'owner'
    replace(
      root,
      h('h1', {}, 'Learning'),
      h(
        'p',
        { class: 'muted lead' },
        'Every day the assistant may train this workspace’s own model from what its members keep, edit and reject of its suggestions. ' +
          'A new model replaces the current one only when it scores better on examples it did not train on.',
      ),
      modelCard,
      trainingSwitch(ctx, base, owner, learning.allow_training, status),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'learning-runs-title' },
        h('h2', { id: 'learning-runs-title' }, 'Training runs'),
        runsList,
      ),
      modelsSlot,
      status.el,
    )
    show(learning, owner)
  }

  function show(learning: LearningStatus, owner: boolean): void {
    renderModel(learning, owner)
    const runs = newestFirst(learning.runs ?? [])
    replace(
      runsList,
      runs.length ? runs.map((run) => runItem(run, learning.current)) : h('li', { class: 'empty' }, 'No training runs yet. Runs happen once a day.'),
    )
    replace(modelsSlot, modelsSection(learning))
    clearTimeout(refresh)
    if (runs.some(isTraining)) refresh = setTimeout(() => void reload(owner), TRAINING_REFRESH_MS)
  }

  async function reload(owner: boolean): Promise<void> {
    try {
      const learning = await ctx.api.get<LearningStatus>(`${base}/learning`)
      if (!disposed) show(learning, owner)
    } catch (error) {
      status.show(message(error, 'could not refresh the learning page'))
    }
  }

  function renderModel(learning: LearningStatus, owner: boolean): void {
    const entry = learning.models?.find((m) => m.model_id === learning.current)
    const back = learning.rollback_to ?? 'the base model'
    const heading = h('h2', { id: 'learning-model-title', tabindex: '-1' }, 'Model in use')
    const rollback =
      owner && learning.current
        ? h(
            'button',
            {
              type: 'button',
              class: 'danger',
              onclick: async () => {
                if (!confirm(`Roll back from ${learning.current} to ${back}? The assistant uses it from the next request.`)) return
                status.clear()
                try {
                  await ctx.api.post(`${base}/learning/rollback`)
                  status.show(`Rolled back: the assistant now uses ${back}.`, 'info')
                } catch (error) {
                  status.show(message(error, 'could not roll back'))
                }
                await reload(owner)
                const again = modelCard.querySelector<HTMLButtonElement>('button')
                ;(again ?? modelCard.querySelector<HTMLElement>('h2'))?.focus()
              },
            },
            `Roll back to ${back}`,
          )
        : null
    replace(
      modelCard,
      heading,
      h(
        'p',
        { class: 'current-model' },
        learning.current ? h('code', {}, learning.current) : h('strong', {}, 'base model'),
        learning.current ? null : h('span', { class: 'muted' }, ' (no trained model promoted yet)'),
      ),
      entry
        ? h(
            'p',
            { class: 'muted' },
            `Trained on ${entry.run_day ?? 'an unknown day'}${entry.trainer ? ` by the ${entry.trainer} trainer` : ''}` +
              `${entry.base_model ? ` from ${entry.base_model}${entry.base_revision ? ` @ ${entry.base_revision.slice(0, 12)}` : ''}` : ''}.`,
          )
        : null,
      learning.current ? h('p', { class: 'muted' }, `A rollback goes back to ${back}.`) : null,
      rollback,
    )
  }

  void open()
  return view
}

function trainingSwitch(
  ctx: AppContext,
  base: string,
  owner: boolean,
  allowed: boolean,
  status: ReturnType<typeof notice>,
): HTMLElement {
  const section = (...children: (Node | null)[]) =>
    h('section', { class: 'card learning-training', 'aria-labelledby': 'learning-training-title' }, h('h2', { id: 'learning-training-title' }, 'Training'), ...children)
  if (!owner) {
    return section(
      h(
        'p',
        { class: 'training-state' },
        allowed ? 'Training is on: ' : 'Training is off: ',
        allowed ? 'the daily run may learn from this workspace.' : 'this workspace is left out of training.',
      ),
      h('p', { class: 'muted' }, 'Only owners can change this.'),
    )
  }
  const input = h('input', {
    type: 'checkbox',
    role: 'switch',
    id: 'learning-allow-training',
    checked: allowed,
    'aria-describedby': 'learning-allow-training-hint',
  })
  input.addEventListener('change', async () => {
    status.clear()
    input.disabled = true
    try {
      await ctx.api.patch(base, { allow_training: input.checked })
      status.show(input.checked ? 'Training is on: the next daily run may learn from this workspace.' : 'Training is off: this workspace is left out of training.', 'info')
    } catch (error) {
      input.checked = !input.checked
      status.show(message(error, 'could not change training'))
    } finally {
      input.disabled = false
      input.focus()
    }
  })
  return section(
    h('div', { class: 'field checkbox switch-field' }, h('label', { for: input.id }, input, ' Train this workspace’s model')),
    h('p', { id: 'learning-allow-training-hint', class: 'hint' }, 'Off: no run trains on this workspace’s text; the model in use stays as it is.'),
  )
}

function runItem(run: Run, current: string | null): HTMLElement {
  const day = run.day ?? 'unknown day'
  const state = stateOf(run)
  const headingId = `run-${day}-title`
  const outcome = outcomeOf(run)
  const meta = [
    run.trainer ? `${run.trainer} trainer` : null,
    run.attempts && run.attempts > 1 ? `attempt ${run.attempts}` : null,
    run.updated_at ? `updated ${formatTime(run.updated_at)}` : run.started_at ? `started ${formatTime(run.started_at)}` : null,
  ].filter(Boolean)
  const chart = lossChart(day, run.loss, run.eval_loss)
  const hasEval = chart?.querySelector('.loss-line.eval') != null
  return h(
    'li',
    { class: `run state-${state}`, 'data-day': day, 'data-state': state, 'aria-labelledby': headingId },
    h(
      'div',
      { class: 'run-head' },
      h('h3', { id: headingId }, day),
      h('span', { class: `badge run-state state-${state}` }, state),
      run.model_id && run.model_id === current ? h('span', { class: 'badge in-use' }, 'in use') : null,
      meta.length ? h('span', { class: 'muted run-meta' }, meta.join(' · ')) : null,
    ),
    outcome ? h('p', { class: `outcome ${outcome.promoted ? 'promoted' : 'not-promoted'}` }, outcome.text) : null,
    isTraining(run) ? progressOf(run, day) : null,
    h(
      'div',
      { class: 'run-body' },
      chart
        ? h(
            'figure',
            { class: 'loss' },
            chart,
            h(
              'figcaption',
              { class: 'legend' },
              h('span', { class: 'key train' }, 'training loss'),
              hasEval ? h('span', { class: 'key eval' }, 'validation loss') : null,
            ),
          )
        : null,
      h('div', { class: 'run-facts' }, examplesOf(run), scoresTable(run, day)),
    ),
  )
}

function examplesOf(run: Run): HTMLElement | null {
  const { train, validation } = run.examples ?? {}
  if (train === undefined && validation === undefined && run.new_examples === undefined && !run.model_id) return null
  const rows: [string, string | Node][] = []
  if (train !== undefined || validation !== undefined) {
    rows.push(['Examples', `${count(train)} train · ${count(validation)} validation`])
  }
  if (run.new_examples !== undefined) rows.push(['New since the last run', count(run.new_examples)])
  if (run.model_id) rows.push(['Model', h('code', {}, run.model_id)])
  return h('dl', { class: 'facts' }, rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]))
}

function scoresTable(run: Run, day: string): HTMLElement | null {
  const candidate = run.scores?.candidate ?? undefined
  const current = run.scores?.current ?? undefined
  if (!candidate && !current) return null
  const rows: [string, (s: Scores) => string][] = [
    ['Model', (s) => s.model ?? '–'],
    ['Mean score', (s) => formatNumber(s.mean)],
    ['Valid format', (s) => formatShare(s.valid)],
    ['Examples', (s) => count(s.count)],
    ['Errors', (s) => count(s.errors)],
  ]
  const better = candidate?.mean !== undefined && current?.mean !== undefined ? (candidate.mean > current.mean ? 'candidate' : 'current') : null
  return h(
    'table',
    { class: 'scores' },
    h('caption', {}, 'Scores on held-out examples', h('span', { class: 'sr-only' }, ` (run of ${day})`)),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Measure')), h('th', { scope: 'col' }, 'Candidate'), h('th', { scope: 'col' }, 'Current'))),
    h(
      'tbody',
      {},
      rows.map(([label, read]) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, label),
          h('td', { class: `candidate${label === 'Mean score' && better === 'candidate' ? ' better' : ''}` }, candidate ? read(candidate) : '–'),
          h('td', { class: `current${label === 'Mean score' && better === 'current' ? ' better' : ''}` }, current ? read(current) : '–'),
        ),
      ),
    ),
  )
}

function progressOf(run: Run, day: string): HTMLElement {
  const p = run.progress ?? {}
  const known = p.step !== undefined && p.total_steps !== undefined && p.total_steps > 0
  const parts = [
    known ? `step ${count(p.step)} of ${count(p.total_steps)}` : 'starting',
    p.loss !== undefined ? `loss ${formatNumber(p.loss)}` : null,
    p.tokens_per_s !== undefined ? `${Math.round(p.tokens_per_s).toLocaleString()} tokens/s` : null,
    p.eta_s !== undefined ? `about ${formatDuration(p.eta_s)} left` : null,
  ].filter(Boolean)
  const bar = h('progress', { 'aria-label': `Training progress of the run on ${day}` })
  if (known) {
    bar.max = p.total_steps!
    bar.value = Math.min(p.step!, p.total_steps!)
  }
  return h('div', { class: 'run-progress' }, bar, h('span', {}, parts.join(' · ')))
}

function modelsSection(learning: LearningStatus): HTMLElement | null {
  const models: ModelEntry[] = [...(learning.models ?? [])].reverse()
  if (!models.length) return null
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'learning-models-title' },
    h('h2', { id: 'learning-models-title' }, 'Trained models'),
    h(
      'ul',
      { class: 'model-list' },
      models.map((m) =>
        h(
          'li',
          { 'data-model': m.model_id },
          h('code', {}, m.model_id),
          m.model_id === learning.current ? h('span', { class: 'badge in-use' }, 'in use') : null,
          m.model_id === learning.rollback_to ? h('span', { class: 'badge rollback-target' }, 'rollback target') : null,
          h(
            'span',
            { class: 'muted' },
            [m.trainer, m.base_model, m.created_at ? formatTime(m.created_at) : null].filter(Boolean).join(' · '),
          ),
        ),
      ),
    ),
  )
}
