// What GET /api/workspaces/{ws}/learning answers, and the pure readings of it the page shows.
// Runs come from `tandem finetune` across versions, so every field of a run is optional.

export interface LossPoint {
  step?: number
  loss?: number
  epoch?: number
}

export interface Scores {
  model?: string
  mean?: number
  valid?: number
  count?: number
  errors?: number
}

export interface Progress {
  step?: number
  total_steps?: number
  loss?: number
  tokens_per_s?: number
  eta_s?: number
}

export interface Run {
  day?: string
  state?: string
  trainer?: string
  attempts?: number
  new_examples?: number
  examples?: { train?: number; validation?: number } | null
  loss?: LossPoint[] | null
  eval_loss?: LossPoint[] | null
  scores?: { candidate?: Scores | null; current?: Scores | null } | null
  reason?: string | null
  error?: string | null
  model_id?: string | null
  started_at?: number
  updated_at?: number
  progress?: Progress | null
}

export interface ModelEntry {
  workspace_id?: string
  model_id: string
  run_day?: string
  trainer?: string
  base_model?: string
  base_revision?: string | null
  created_at?: number
}

export interface LearningStatus {
  current: string | null
  rollback_to: string | null
  models: ModelEntry[]
  runs: Run[]
  allow_training: boolean
}

/** Newest day first; runs without a day go last, in the order the server gave them. */
export function newestFirst(runs: readonly Run[]): Run[] {
  return runs
    .map((run, index) => ({ run, index }))
    .sort((a, b) => {
      const [x, y] = [a.run.day ?? '', b.run.day ?? '']
      return x === y ? a.index - b.index : x < y ? 1 : -1
    })
    .map(({ run }) => run)
}

/** `submitted` is what older jobs-API runs wrote before `training`. */
export function stateOf(run: Run): string {
  const state = run.state ?? 'unknown'
  return state === 'submitted' ? 'training' : state
}

export function isTraining(run: Run): boolean {
  return stateOf(run) === 'training'
}

/** Points with a finite step and loss, in step order: what the chart can draw. */
export function plottable(points: LossPoint[] | null | undefined): { step: number; loss: number }[] {
  return (points ?? [])
    .filter((p): p is { step: number; loss: number } => Number.isFinite(p?.step) && Number.isFinite(p?.loss))
    .map((p) => ({ step: p.step, loss: p.loss }))
    .sort((a, b) => a.step - b.step)
}

/** Why the run ended as it did, or null while there is nothing to say. */
export function outcomeOf(run: Run): { promoted: boolean; text: string } | null {
  const promoted = stateOf(run) === 'promoted'
  const why = run.reason || run.error
  switch (stateOf(run)) {
    case 'promoted':
      return { promoted, text: why ? `Promoted: ${why}` : 'Promoted' }
    case 'rejected':
      return { promoted, text: why ? `Not promoted: ${why}` : 'Not promoted' }
    case 'skipped':
      return { promoted, text: why ? `Skipped: ${why}` : 'Skipped' }
    case 'failed':
      return { promoted, text: why ? `Failed: ${why}` : 'Failed' }
    default:
      return why ? { promoted, text: why } : null
  }
}

export function formatNumber(value: number | undefined, digits = 3): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits)
}

export function formatShare(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '–' : `${Math.round(value * 100)}%`
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–'
  if (seconds < 60) return `${Math.round(seconds)} s`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`
  const hours = Math.floor(seconds / 3600)
  return `${hours} h ${Math.round((seconds % 3600) / 60)} min`
}

/** Round axis ends that hold every value: [lo, hi] widened when all values are equal. */
export function axisRange(values: number[]): [number, number] {
  let lo = Math.min(...values)
  let hi = Math.max(...values)
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1
    lo -= pad
    hi += pad
  }
  return [lo, hi]
}
