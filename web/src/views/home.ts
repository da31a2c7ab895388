// The list of my workspaces and a form to create one.
import { ApiError, type Workspace } from '../api'
import type { AppContext, View } from '../context'
import { field, h, notice, replace } from '../dom'
import { href } from '../routes'

export function homeView(ctx: AppContext): View {
  const list = h('ul', { class: 'workspace-list', 'aria-label': 'Your workspaces' })
  const status = notice()
  const name = h('input', { name: 'name', required: true, maxlength: 100, placeholder: 'e.g. Design team' })

  async function load() {
    try {
      const { workspaces } = await ctx.api.get<{ workspaces: Workspace[] }>('/api/workspaces')
      if (workspaces.length === 0) {
        replace(list, h('li', { class: 'empty' }, 'No workspaces yet: create one below, or ask a colleague to add you.'))
        return
      }
      replace(
        list,
        workspaces
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((w) =>
            h('li', {}, h('a', { href: href.workspace(w.id) }, w.name), ' ', h('span', { class: `role role-${w.role}` }, w.role)),
          ),
      )
    } catch (error) {
      status.show(error instanceof ApiError ? error.message : 'could not load your workspaces')
    }
  }

  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault()
        status.clear()
        try {
          const created = await ctx.api.post<Workspace>('/api/workspaces', { name: name.value })
          ctx.navigate(href.workspace(created.id))
        } catch (error) {
          status.show(error instanceof ApiError ? error.message : 'could not create the workspace')
        }
      },
    },
    field('New workspace name', name),
    h('button', { type: 'submit', class: 'primary' }, 'Create workspace'),
  )

  ctx.setCrumbs([])
  void load()
  return {
    title: 'Workspaces',
    el: h(
      'div',
      { class: 'page narrow' },
      h('h1', {}, 'Workspaces'),
      list,
      h('h2', {}, 'Create a workspace'),
      form,
      status.el,
    ),
  }
}
