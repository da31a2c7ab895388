// A workspace's assistant: the instructions every request gets, the workspace's own model
// (what tandem finetune promoted, with a rollback), and the owner's switch for training.
import { ApiError, type Workspace } from '../api'
import type { AppContext } from '../context'
import { h, notice, replace } from '../dom'
import { formatTime } from '../drive/model'
import { href } from '../routes'

interface Learning {
  current: string | null
  rollback_to: string | null
  runs: { day: string; state: string; error?: string | null; scores?: Record<string, number> | null }[]
  models: { model_id: string; created_at: number }[]
  allow_training: boolean
}

function message(error: unknown, fallback: string): string {
  return error instanceof ApiError ? error.message : fallback
}

export function assistantSettings(ctx: AppContext, workspace: Workspace): HTMLElement {
  const owner = workspace.role === 'owner'
  const base = `/api/workspaces/${encodeURIComponent(workspace.id)}`
  const status = notice()
  const instructions = h('textarea', { id: `instructions-${workspace.id}`, rows: 4, readonly: !owner, placeholder: owner ? 'e.g. Write British English; keep code comments short.' : 'No instructions.' })
  const model = h('div', { class: 'model-status' }, h('p', { class: 'muted' }, 'Loading…'))

  async function load(): Promise<void> {
    try {
      const { instructions: text } = await ctx.api.get<{ instructions: string }>(`${base}/assistant`)
      instructions.value = text ?? ''
    } catch (error) {
      status.show(message(error, 'could not load the instructions'))
    }
    try {
      renderModel(await ctx.api.get<Learning>(`${base}/learning`))
    } catch (error) {
      replace(model, h('p', { class: 'muted' }, error instanceof ApiError && error.status === 503 ? 'This server does not train workspace models.' : message(error, 'could not load the model')))
    }
  }

  function renderModel(learning: Learning): void {
    const last = learning.runs[0]
    replace(
      model,
      h('p', {}, 'Model: ', h('strong', {}, learning.current ?? 'the base model')),
      last ? h('p', { class: 'muted' }, `Last training run ${last.day}: ${last.state}${last.error ? ` (${last.error})` : ''}`) : h('p', { class: 'muted' }, 'No training runs yet.'),
      learning.models.length ? h('p', { class: 'muted' }, `${learning.models.length} trained model${learning.models.length === 1 ? '' : 's'}, the newest from ${formatTime(learning.models[learning.models.length - 1].created_at)}`) : null,
      owner && learning.current
        ? h(
            'button',
            {
              type: 'button',
              onclick: async () => {
                if (!confirm(`Go back to ${learning.rollback_to ?? 'the base model'}?`)) return
                try {
                  renderModel(await ctx.api.post<Learning>(`${base}/learning/rollback`))
                  status.show('rolled back', 'info')
                } catch (error) {
                  status.show(message(error, 'could not roll back'))
                }
              },
            },
            `Roll back to ${learning.rollback_to ?? 'the base model'}`,
          )
        : null,
    )
  }

  const training = h('input', { type: 'checkbox', checked: workspace.allow_training, disabled: !owner })
  training.addEventListener('change', async () => {
    try {
      await ctx.api.patch(base, { allow_training: training.checked })
      status.show(training.checked ? 'the assistant may learn from this workspace' : 'this workspace is left out of training', 'info')
    } catch (error) {
      training.checked = !training.checked
      status.show(message(error, 'could not save'))
    }
  })

  void load()
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'assistant-settings-title' },
    h('h2', { id: 'assistant-settings-title' }, 'Assistant'),
    h(
      'form',
      {
        onsubmit: async (event: SubmitEvent) => {
          event.preventDefault()
          try {
            const saved = await ctx.api.request<{ instructions: string }>('PUT', `${base}/assistant`, { instructions: instructions.value })
            instructions.value = saved.instructions
            status.show('instructions saved', 'info')
          } catch (error) {
            status.show(message(error, 'could not save the instructions'))
          }
        },
      },
      h('div', { class: 'field' }, h('label', { for: instructions.id }, 'Instructions for every request in this workspace'), instructions),
      owner ? h('button', { type: 'submit' }, 'Save instructions') : null,
    ),
    h('div', { class: 'field checkbox' }, h('label', {}, training, ' Let the assistant learn from accepted suggestions here')),
    model,
    h('p', {}, h('a', { href: href.learning(workspace.id) }, 'Learning: training runs and models')),
    status.el,
  )
}
