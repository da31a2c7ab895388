import type { Api } from './api'
import type { Session } from './session'

/** What every screen gets: the session, the API, and navigation. */
export interface AppContext {
  session: Session
  api: Api
  navigate(hash: string): void
  /** Crumbs shown in the header, e.g. the workspace a document belongs to. */
  setCrumbs(crumbs: { label: string; href?: string }[]): void
}

/** A mounted screen; `dispose` closes its sockets and timers when the user leaves it. */
export interface View {
  el: HTMLElement
  title: string
  dispose?(): void
}
