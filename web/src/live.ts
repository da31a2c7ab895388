// A stock y-websocket provider for one document, kept on a fresh access token: refreshed
// tokens go into its URL for the next reconnect, and a 4401 (the token expired while the tab
// slept) gets one refresh and retry before the refusal is shown.
import { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import type { AppContext } from './context'

export function syncUrl(): string {
  return `${location.origin.replace(/^http/, 'ws')}/sync`
}

export function openProvider(
  ctx: AppContext,
  room: string,
  doc: Y.Doc,
  onRefused: (code: number, reason: string) => void,
  opts: { resyncMs?: number } = {},
): { provider: WebsocketProvider; dispose(): void } {
  const provider = new WebsocketProvider(syncUrl(), room, doc, {
    connect: false,
    resyncInterval: opts.resyncMs ?? -1,
    // Tabs must sync through the server, which enforces roles, not directly with each other.
    disableBc: true,
    params: { token: ctx.session.currentToken() },
  })
  let disposed = false
  const unsubscribe = ctx.session.onToken((token) => (provider.params.token = token))
  let retried = false
  provider.on('sync', (synced) => {
    if (synced) retried = false
  })
  provider.on('closed', async ({ code, reason }) => {
    if (code === 4401 && !retried) {
      retried = true
      try {
        await ctx.session.refresh(provider.params.token)
        if (ctx.session.user && !disposed) {
          provider.params.token = ctx.session.currentToken()
          provider.connect()
          return
        }
      } catch {
        // Fall through to the refusal.
      }
    }
    if (!disposed) onRefused(code, reason)
  })
  // Back online, the old socket may be dead without knowing it yet (the stock client waits
  // 30 s of silence): start a fresh one, which resyncs both ways at once.
  const online = () => {
    if (!provider.shouldConnect) return
    provider.disconnect()
    provider.connect()
  }
  window.addEventListener('online', online)
  provider.connect()
  return {
    provider,
    dispose() {
      disposed = true
      window.removeEventListener('online', online)
      unsubscribe()
      provider.destroy()
    },
  }
}
