// JSON over /api with the session's access token; one retry after a refresh on 401.
import type { Session } from './session'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface User {
  id: string
  username: string
}

export interface Tokens {
  user: User
  access_token: string
  refresh_token: string
  expires_in: number
}

export interface Workspace {
  id: string
  name: string
  role: Role
  allow_training: boolean
  created_at: number
}

export type Role = 'owner' | 'editor' | 'viewer'

export interface Member extends User {
  role: Role
}

export interface DocInfo {
  doc_id: string
  workspace_id: string
  role: Role
  read_only: boolean
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = 'http_' + response.status
  let message = response.statusText || `request failed (${response.status})`
  try {
    const body = await response.json()
    if (body?.error) {
      code = body.error.code ?? code
      message = body.error.message ?? message
    }
  } catch {
    // Not JSON (a proxy's error page): keep the status text.
  }
  return new ApiError(response.status, code, message)
}

/** A request that needs no session (sign in, sign up, refresh). */
export async function postPublic<T>(path: string, body: unknown): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, 'network', 'cannot reach the server; check your connection')
  }
  if (!response.ok) throw await errorOf(response)
  return response.status === 204 ? (undefined as T) : ((await response.json()) as T)
}

export class Api {
  constructor(private readonly session: Session) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.session.accessToken()
      const headers: Record<string, string> = { authorization: `Bearer ${token}` }
      if (body !== undefined) headers['content-type'] = 'application/json'
      let response: Response
      try {
        response = await fetch(path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        })
      } catch {
        throw new ApiError(0, 'network', 'cannot reach the server; check your connection')
      }
      if (response.status === 401 && attempt === 0) {
        // The access token may have expired between the check and the request.
        await this.session.refresh(token)
        continue
      }
      if (response.status === 401) this.session.expired()
      if (!response.ok) throw await errorOf(response)
      return response.status === 204 ? (undefined as T) : ((await response.json()) as T)
    }
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path)
  }
  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body)
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body)
  }
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path)
  }
}
