// Who is here: one entry per connected client, from the shared awareness states.
import type { Awareness } from 'y-protocols/awareness'
import { h, replace } from '../dom'

export interface PresenceUser {
  id: string
  name: string
  color: string
  colorLight: string
}

export function presenceList(awareness: Awareness): { el: HTMLElement; dispose(): void } {
  const list = h('ul', { class: 'presence', 'aria-label': 'People in this document' })
  const render = () => {
    const entries: { clientId: number; user: PresenceUser }[] = []
    awareness.getStates().forEach((state, clientId) => {
      const user = state.user as PresenceUser | undefined
      if (user?.name) entries.push({ clientId, user })
    })
    entries.sort((a, b) => (a.clientId === awareness.clientID ? -1 : b.clientId === awareness.clientID ? 1 : a.user.name.localeCompare(b.user.name)))
    replace(
      list,
      entries.map(({ clientId, user }) =>
        h(
          'li',
          { 'data-user': user.name, title: user.name },
          h('span', { class: 'avatar', style: `background:${user.color}`, 'aria-hidden': 'true' }, user.name.slice(0, 1).toUpperCase()),
          h('span', { class: 'name' }, clientId === awareness.clientID ? `${user.name} (you)` : user.name),
        ),
      ),
    )
  }
  awareness.on('change', render)
  render()
  return { el: list, dispose: () => awareness.off('change', render) }
}
