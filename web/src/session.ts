// The signed-in session: tokens kept in localStorage so a reload stays signed in, refreshed
// before they expire. Refresh tokens are single-use, so tabs refresh under a Web Lock and
// adopt whatever another tab stored meanwhile instead of spending a used token.
import { ApiError, postPublic, type Tokens, type User } from './api'

const STORAGE_KEY = 'tandem.session'
const LOCK_NAME = 'tandem.session.refresh'
const EARLY_MS = 60_000

/** Refresh this long before expiry: a minute, or a quarter of a short-lived token's life. */
function early(stored: Stored): number {
  return Math.min(EARLY_MS, stored.lifetimeMs / 4)
}

interface Stored {
  user: User
  accessToken: string
  refreshToken: string
  expiresAt: number
  lifetimeMs: number
}

type Listener = () => void

export class Session {
  private stored: Stored | null = readStored()
  private timer: ReturnType<typeof setTimeout> | undefined
  private inflight: Promise<void> | null = null
  private listeners = new Set<Listener>()

  constructor() {
    window.addEventListener('storage', (event) => {
      if (event.key !== STORAGE_KEY) return
      const wasSignedIn = this.stored !== null
      this.stored = readStored()
      this.schedule()
      if (wasSignedIn !== (this.stored !== null)) this.emit()
      else this.emitToken()
    })
    this.schedule()
  }

  get user(): User | null {
    return this.stored?.user ?? null
  }

  /** Called on sign in, sign out, and when the session ends by itself. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private tokenListeners = new Set<(token: string) => void>()
  /** Called with each new access token (open websockets reconnect with it). */
  onToken(listener: (token: string) => void): () => void {
    this.tokenListeners.add(listener)
    return () => this.tokenListeners.delete(listener)
  }

  /** The current access token, refreshed first if it is about to expire. */
  async accessToken(): Promise<string> {
    if (!this.stored) throw new ApiError(401, 'unauthorized', 'you are signed out')
    if (this.stored.expiresAt - Date.now() < early(this.stored)) await this.refresh(this.stored.accessToken)
    if (!this.stored) throw new ApiError(401, 'unauthorized', 'your session has ended')
    return this.stored.accessToken
  }

  /** A token known to be current, without waiting (for building a websocket URL). */
  currentToken(): string {
    return this.stored?.accessToken ?? ''
  }

  async signIn(username: string, password: string): Promise<void> {
    this.adopt(await postPublic<Tokens>('/api/auth/signin', { username, password }))
    this.emit()
  }

  async signUp(username: string, password: string, invite?: string): Promise<void> {
    const body: Record<string, string> = { username, password }
    if (invite) body.invite = invite
    this.adopt(await postPublic<Tokens>('/api/auth/signup', body))
    this.emit()
  }

  async signOut(): Promise<void> {
    const refreshToken = this.stored?.refreshToken
    this.clear()
    if (refreshToken) {
      try {
        await postPublic('/api/auth/signout', { refresh_token: refreshToken })
      } catch {
        // Signed out locally either way; the token expires on its own.
      }
    }
    this.emit()
  }

  /** The server refused our tokens for good: back to the sign-in screen. */
  expired(): void {
    if (!this.stored) return
    this.clear()
    this.emit()
  }

  /** Swaps the refresh token for new tokens unless `stale` was already replaced. */
  refresh(stale?: string): Promise<void> {
    this.inflight ??= this.refreshLocked(stale).finally(() => {
      this.inflight = null
    })
    return this.inflight
  }

  private async refreshLocked(stale?: string): Promise<void> {
    const run = async () => {
      // Another tab may have refreshed while we waited for the lock.
      const latest = readStored()
      if (latest && latest.accessToken !== stale && latest.expiresAt - Date.now() > early(latest)) {
        this.stored = latest
        this.schedule()
        this.emitToken()
        return
      }
      if (!latest) {
        this.expired()
        return
      }
      try {
        this.adopt(await postPublic<Tokens>('/api/auth/refresh', { refresh_token: latest.refreshToken }))
        this.emitToken()
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) this.expired()
        else throw error
      }
    }
    if (navigator.locks) await navigator.locks.request(LOCK_NAME, run)
    else await run()
  }

  private adopt(tokens: Tokens): void {
    this.stored = {
      user: tokens.user,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: Date.now() + tokens.expires_in * 1000,
      lifetimeMs: tokens.expires_in * 1000,
    }
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.stored))
    this.schedule()
  }

  private clear(): void {
    this.stored = null
    localStorage.removeItem(STORAGE_KEY)
    this.schedule()
  }

  private schedule(): void {
    clearTimeout(this.timer)
    if (!this.stored) return
    const delay = Math.max(1_000, this.stored.expiresAt - Date.now() - early(this.stored))
    const stale = this.stored.accessToken
    this.timer = setTimeout(() => {
      // A failure here (offline) is retried by the next request or reconnect.
      this.refresh(stale).catch(() => this.retryLater())
    }, delay)
  }

  private retryLater(): void {
    clearTimeout(this.timer)
    const stale = this.stored?.accessToken
    this.timer = setTimeout(() => this.refresh(stale).catch(() => this.retryLater()), 15_000)
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener()
  }

  private emitToken(): void {
    const token = this.stored?.accessToken
    if (!token) return
    for (const listener of [...this.tokenListeners]) listener(token)
  }
}

function readStored(): Stored | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY)
    if (!raw) return null
    const value = JSON.parse(raw) as Stored
    if (!value || typeof value.refreshToken !== 'string') return null
    value.lifetimeMs ||= 15 * 60_000
    return value
  } catch {
    return null
  }
}
