// One workspace: its documents, its members and their roles, invites, its conversations, and settings.
import { ApiError, type Member, type Role, type Workspace } from '../api'
import type { AppContext, View } from '../context'
import { field, h, notice, replace } from '../dom'
import { driveTree } from '../drive/tree'
import { threadsPanel } from '../assistant/threads/panel'
import { assistantSettings } from './assistant_settings'
import { recentDocs } from '../recent'
import { href } from '../routes'

const ROLES: Role[] = ['viewer', 'editor', 'owner']

/** `label` only for a select without a visible label (a <label for> names the others). */
function roleSelect(current: Role, label?: string): HTMLSelectElement {
  return h(
    'select',
    { 'aria-label': label ?? null },
    ROLES.map((role) => h('option', { value: role, selected: role === current }, role)),
  )
}

function message(error: unknown, fallback: string): string {
  return error instanceof ApiError ? error.message : fallback
}

export function workspaceView(ctx: AppContext, ws: string): View {
  const root = h('div', { class: 'page' }, h('p', { class: 'loading' }, 'Loading workspace…'))
  const disposers: (() => void)[] = []
  const view: View = {
    el: root,
    title: 'Workspace',
    dispose: () => disposers.splice(0).forEach((dispose) => dispose()),
  }

  async function load() {
    let workspace: Workspace
    try {
      workspace = await ctx.api.get<Workspace>(`/api/workspaces/${encodeURIComponent(ws)}`)
    } catch (error) {
      replace(root, h('h1', {}, 'Workspace not found'), h('p', {}, message(error, 'could not load it')), h('a', { href: href.home() }, 'Back to your workspaces'))
      return
    }
    view.title = workspace.name
    document.title = `${workspace.name} · Tandem`
    ctx.setCrumbs([{ label: workspace.name }])
    const owner = workspace.role === 'owner'
    // The drive when this server has one; plain documents by id otherwise.
    const tree = driveTree(ctx, { ws: workspace.id, role: workspace.role })
    disposers.push(tree.dispose)
    const files = h('div', { class: 'files-slot' }, tree.el)
    void tree.ready.then((available) => {
      if (!available) replace(files, documentsSection(ctx, workspace))
    })
    const threads = threadsPanel(ctx, { ws: workspace.id, role: workspace.role, id: 'workspace-threads' })
    disposers.push(threads.dispose)
    replace(
      root,
      h('h1', {}, workspace.name, ' ', h('span', { class: `role role-${workspace.role}` }, workspace.role)),
      h('div', { class: 'columns' }, files, h('div', {}, membersSection(ctx, workspace, owner), assistantSettings(ctx, workspace))),
      h('div', { class: 'card workspace-threads' }, threads.el),
      owner ? settingsSection(ctx, workspace) : null,
    )
  }
  void load()
  return view
}

function documentsSection(ctx: AppContext, workspace: Workspace): HTMLElement {
  const status = notice()
  const canEdit = workspace.role !== 'viewer'
  const recent = recentDocs(workspace.id)
  const openId = h('input', { name: 'doc', required: true, autocomplete: 'off', spellcheck: 'false' })
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'docs-title' },
    h('h2', { id: 'docs-title' }, 'Documents'),
    canEdit
      ? h(
          'button',
          {
            type: 'button',
            class: 'primary',
            onclick: async () => {
              status.clear()
              try {
                const { doc_id } = await ctx.api.post<{ doc_id: string }>(
                  `/api/workspaces/${encodeURIComponent(workspace.id)}/docs`,
                )
                ctx.navigate(href.doc(workspace.id, doc_id))
              } catch (error) {
                status.show(message(error, 'could not create the document'))
              }
            },
          },
          'New document',
        )
      : null,
    recent.length
      ? h(
          'ul',
          { class: 'doc-list', 'aria-label': 'Recently opened documents' },
          recent.map((entry) => h('li', {}, h('a', { href: href.doc(workspace.id, entry.doc) }, entry.name))),
        )
      : h('p', { class: 'muted' }, 'Documents you open appear here.'),
    h(
      'form',
      {
        class: 'inline-form',
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault()
          ctx.navigate(href.doc(workspace.id, openId.value.trim()))
        },
      },
      field('Open a document by id', openId),
      h('button', { type: 'submit' }, 'Open'),
    ),
    status.el,
  )
}

function membersSection(ctx: AppContext, workspace: Workspace, owner: boolean): HTMLElement {
  const base = `/api/workspaces/${encodeURIComponent(workspace.id)}`
  const list = h('ul', { class: 'member-list', 'aria-label': 'Members' })
  const status = notice()
  const me = ctx.session.user?.id

  async function load() {
    try {
      const { members } = await ctx.api.get<{ members: Member[] }>(`${base}/members`)
      replace(
        list,
        members
          .sort((a, b) => a.username.localeCompare(b.username))
          .map((member) => memberRow(member)),
      )
    } catch (error) {
      status.show(message(error, 'could not load the members'))
    }
  }

  function memberRow(member: Member): HTMLElement {
    const you = member.id === me ? ' (you)' : ''
    const name = h('span', { class: 'member-name' }, member.username + you)
    if (!owner) {
      const leave =
        member.id === me
          ? h('button', { type: 'button', class: 'link danger', onclick: () => remove(member, true) }, 'Leave')
          : null
      return h('li', {}, name, h('span', { class: `role role-${member.role}` }, member.role), leave)
    }
    const select = roleSelect(member.role, `Role of ${member.username}`)
    select.addEventListener('change', async () => {
      status.clear()
      try {
        await ctx.api.patch(`${base}/members/${encodeURIComponent(member.id)}`, { role: select.value })
        status.show(`${member.username} is now ${select.value}`, 'info')
      } catch (error) {
        select.value = member.role
        status.show(message(error, 'could not change the role'))
      }
    })
    return h(
      'li',
      {},
      name,
      select,
      h('button', { type: 'button', class: 'link danger', onclick: () => remove(member, member.id === me) }, member.id === me ? 'Leave' : 'Remove'),
    )
  }

  async function remove(member: Member, self: boolean) {
    const question = self ? `Leave ${workspace.name}?` : `Remove ${member.username} from ${workspace.name}?`
    if (!confirm(question)) return
    try {
      await ctx.api.delete(`${base}/members/${encodeURIComponent(member.id)}`)
      if (self) ctx.navigate(href.home())
      else await load()
    } catch (error) {
      status.show(message(error, 'could not remove the member'))
    }
  }

  const username = h('input', { name: 'username', required: true, autocomplete: 'off', spellcheck: 'false' })
  const role = roleSelect('editor')
  role.id = 'add-member-role'
  const addForm = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault()
        status.clear()
        try {
          await ctx.api.post(`${base}/members`, { username: username.value.trim(), role: role.value })
          status.show(`added ${username.value.trim()} as ${role.value}`, 'info')
          username.value = ''
          await load()
        } catch (error) {
          status.show(message(error, 'could not add the member'))
        }
      },
    },
    field('Add by username', username),
    field('Role', role),
    h('button', { type: 'submit' }, 'Add member'),
  )

  const inviteRole = roleSelect('editor')
  const inviteOut = h('input', { readonly: true, 'aria-label': 'Invite link', class: 'invite-link', hidden: true })
  const inviteForm = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault()
        status.clear()
        try {
          const { invite } = await ctx.api.post<{ invite: string }>(`${base}/invites`, { role: inviteRole.value })
          inviteOut.value = href.invite(invite)
          inviteOut.hidden = false
          inviteOut.select()
        } catch (error) {
          status.show(message(error, 'could not create an invite'))
        }
      },
    },
    field('Invite a new user as', inviteRole),
    h('button', { type: 'submit' }, 'Create invite link'),
  )

  void load()
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'members-title' },
    h('h2', { id: 'members-title' }, 'Members'),
    list,
    owner ? addForm : null,
    owner ? inviteForm : null,
    owner ? inviteOut : null,
    status.el,
  )
}

function settingsSection(ctx: AppContext, workspace: Workspace): HTMLElement {
  const base = `/api/workspaces/${encodeURIComponent(workspace.id)}`
  const status = notice()
  const name = h('input', { name: 'name', required: true, maxlength: 100, value: workspace.name })
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'settings-title' },
    h('h2', { id: 'settings-title' }, 'Settings'),
    h(
      'form',
      {
        class: 'inline-form',
        onsubmit: async (event: SubmitEvent) => {
          event.preventDefault()
          try {
            await ctx.api.patch(base, { name: name.value })
            ctx.setCrumbs([{ label: name.value.trim() }])
            status.show('renamed', 'info')
          } catch (error) {
            status.show(message(error, 'could not rename'))
          }
        },
      },
      field('Workspace name', name),
      h('button', { type: 'submit' }, 'Rename'),
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'danger',
        onclick: async () => {
          if (!confirm(`Delete ${workspace.name} and everything in it? This cannot be undone.`)) return
          try {
            await ctx.api.delete(base)
            ctx.navigate(href.home())
          } catch (error) {
            status.show(message(error, 'could not delete the workspace'))
          }
        },
      },
      'Delete workspace',
    ),
    status.el,
  )
}
