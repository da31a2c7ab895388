// The connection indicator: what the provider is doing, and whether local edits are waiting.
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { h } from '../dom'

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'refused'

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  refused: 'Disconnected',
}

/** Close codes the server uses for refusals that reconnecting cannot fix. */
export function refusalMessage(code: number, reason: string): string {
  switch (code) {
    case 4401:
      return 'Your session has expired. Sign in again to keep editing.'
    case 4403:
      return 'You no longer have access to this document.'
    case 4404:
      return 'This document does not exist (it may have been deleted).'
    case 4400:
      return 'This document id is not valid.'
    case 4413:
      return 'This document has reached its size limit; your last edits were not saved.'
    default:
      return `The server closed the connection (${code}${reason ? `: ${reason}` : ''}).`
  }
}

export class ConnectionIndicator {
  readonly el: HTMLElement
  private readonly label: HTMLElement
  private readonly detail: HTMLElement
  private state: ConnectionState = 'connecting'
  private everSynced = false
  private unsynced = false
  private refusal = ''

  constructor(
    private readonly provider: WebsocketProvider,
    doc: Y.Doc,
  ) {
    this.label = h('span', { class: 'label' })
    this.detail = h('span', { class: 'detail' })
    this.el = h('div', { class: 'connection', role: 'status', 'aria-live': 'polite', 'data-state': 'connecting' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), this.label, this.detail)
    provider.on('status', () => this.update())
    provider.on('sync', (synced: boolean) => {
      if (synced) {
        this.everSynced = true
        this.unsynced = false
      }
      this.update()
    })
    doc.on('update', (_update: Uint8Array, origin: unknown) => {
      // A local edit made while not synced has not reached the server yet.
      if (origin !== provider && !(provider.wsconnected && provider.synced && navigator.onLine)) {
        this.unsynced = true
        this.update()
      }
    })
    window.addEventListener('online', this.update)
    window.addEventListener('offline', this.update)
    this.update()
  }

  refused(message: string): void {
    this.refusal = message
    this.update()
  }

  clearRefusal(): void {
    this.refusal = ''
    this.update()
  }

  get current(): ConnectionState {
    return this.state
  }

  private update = (): void => {
    const p = this.provider
    let state: ConnectionState
    if (this.refusal) state = 'refused'
    else if (!navigator.onLine) state = 'offline'
    else if (p.wsconnected && p.synced) state = 'connected'
    else state = this.everSynced ? 'reconnecting' : 'connecting'
    this.state = state
    this.el.dataset.state = state
    this.el.dataset.unsynced = String(this.unsynced)
    this.label.textContent = LABELS[state]
    this.detail.textContent =
      state === 'refused'
        ? this.refusal
        : this.unsynced && state !== 'connected'
          ? 'Unsynced edits are kept here and sent when the connection is back.'
          : ''
  }

  dispose(): void {
    window.removeEventListener('online', this.update)
    window.removeEventListener('offline', this.update)
  }
}
