// Hash routes: the server serves index.html for any path, but hashes keep links working
// behind any static host and never reach the server's logs.

export type Route =
  | { name: 'signin'; next?: string }
  | { name: 'signup'; invite?: string; next?: string }
  | { name: 'home' }
  | { name: 'workspace'; ws: string }
  | { name: 'learning'; ws: string }
  | { name: 'doc'; ws: string; doc: string }
  | { name: 'file'; ws: string; entry: string; line?: number }
  | { name: 'missing'; path: string }

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/'
  const [path, query = ''] = raw.split('?', 2)
  const params = new URLSearchParams(query)
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent)
  const next = params.get('next') ?? undefined
  if (parts.length === 0) return { name: 'home' }
  if (parts[0] === 'signin' && parts.length === 1) return { name: 'signin', next }
  if (parts[0] === 'signup' && parts.length === 1) {
    return { name: 'signup', invite: params.get('invite') ?? undefined, next }
  }
  if (parts[0] === 'w' && parts.length === 2) return { name: 'workspace', ws: parts[1] }
  if (parts[0] === 'w' && parts[2] === 'learning' && parts.length === 3) return { name: 'learning', ws: parts[1] }
  if (parts[0] === 'w' && parts[2] === 'd' && parts.length === 4) {
    return { name: 'doc', ws: parts[1], doc: parts[3] }
  }
  if (parts[0] === 'w' && parts[2] === 'f' && parts.length === 4) {
    const line = Number(params.get('line'))
    return { name: 'file', ws: parts[1], entry: parts[3], line: Number.isInteger(line) && line > 0 ? line : undefined }
  }
  return { name: 'missing', path }
}

export const href = {
  home: () => '#/',
  signin: (next?: string) => (next ? `#/signin?next=${encodeURIComponent(next)}` : '#/signin'),
  signup: (next?: string) => (next ? `#/signup?next=${encodeURIComponent(next)}` : '#/signup'),
  workspace: (ws: string) => `#/w/${encodeURIComponent(ws)}`,
  learning: (ws: string) => `#/w/${encodeURIComponent(ws)}/learning`,
  doc: (ws: string, doc: string) => `#/w/${encodeURIComponent(ws)}/d/${encodeURIComponent(doc)}`,
  file: (ws: string, entry: string, line?: number) =>
    `#/w/${encodeURIComponent(ws)}/f/${encodeURIComponent(entry)}${line ? `?line=${line}` : ''}`,
  invite: (code: string) => `${location.origin}/#/signup?invite=${encodeURIComponent(code)}`,
}

/** Only same-app hash routes are followed after sign-in (no open redirect). */
export function safeNext(next: string | undefined): string {
  return next && next.startsWith('#/') ? next : href.home()
}
