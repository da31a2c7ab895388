// The app shell: header, routing between screens, and the session that gates them.
import './styles.css'
import { Api } from './api'
import type { AppContext, View } from './context'
import { h, replace } from './dom'
import { href, parseRoute, type Route } from './routes'
import { searchPanel } from './search/panel'
import { Session } from './session'
import { authView } from './views/auth'
import { editorView } from './views/editor'
import { fileView } from './views/file'
import { homeView } from './views/home'
import { learningView } from './views/learning'
import { workspaceView } from './views/workspace'

const session = new Session()
const api = new Api(session)

const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumbs' })
const account = h('div', { class: 'account' })
const main = h('main', { id: 'main', tabindex: '-1' })
const header = h(
  'header',
  { class: 'topbar' },
  h('a', { class: 'skip', href: '#main', onclick: (e: Event) => { e.preventDefault(); main.focus() } }, 'Skip to content'),
  h('a', { class: 'brand', href: href.home() }, 'Tandem'),
  crumbs,
  account,
)
document.getElementById('app')!.replaceChildren(header, main)

let current: View | null = null

const ctx: AppContext = {
  session,
  api,
  navigate(hash) {
    if (location.hash === hash) render()
    else location.hash = hash
  },
  setCrumbs(items) {
    replace(
      crumbs,
      items.length ? h('a', { href: href.home() }, 'Workspaces') : null,
      items.flatMap((item) => [
        h('span', { class: 'sep', 'aria-hidden': 'true' }, '/'),
        item.href ? h('a', { href: item.href }, item.label) : h('span', { 'aria-current': 'page' }, item.label),
      ]),
    )
  },
}

function renderAccount() {
  const user = session.user
  replace(
    account,
    user
      ? [
          h('span', { class: 'who' }, user.username),
          h('button', { type: 'button', class: 'link', onclick: () => void session.signOut() }, 'Sign out'),
        ]
      : null,
  )
}

function viewFor(route: Route): View {
  switch (route.name) {
    case 'signin':
      return authView(ctx, 'signin', { next: route.next })
    case 'signup':
      return authView(ctx, 'signup', { invite: route.invite, next: route.next })
    case 'home':
      return homeView(ctx)
    case 'workspace':
      return workspaceView(ctx, route.ws)
    case 'learning':
      return learningView(ctx, route.ws)
    case 'doc':
      return editorView(ctx, route.ws, route.doc)
    case 'file':
      return fileView(ctx, route.ws, route.entry, route.line)
    case 'missing':
      return {
        title: 'Not found',
        el: h('div', { class: 'page narrow' }, h('h1', {}, 'Page not found'), h('a', { href: href.home() }, 'Go to your workspaces')),
      }
  }
}

function render() {
  current?.dispose?.()
  current = null
  let route = parseRoute(location.hash)
  const publicRoute = route.name === 'signin' || route.name === 'signup'
  if (!session.user && !publicRoute) {
    const next = location.hash && location.hash !== '#/' ? location.hash : undefined
    history.replaceState(null, '', href.signin(next))
    route = parseRoute(location.hash)
  } else if (session.user && publicRoute && !(route.name === 'signup' && route.invite)) {
    history.replaceState(null, '', href.home())
    route = parseRoute(location.hash)
  }
  ctx.setCrumbs([])
  renderAccount()
  current = viewFor(route)
  document.title = `${current.title} · Tandem`
  main.replaceChildren(current.el)
}

document.body.append(searchPanel(ctx))
session.onChange(() => render())
window.addEventListener('hashchange', render)
render()
