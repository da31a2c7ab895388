// Documents this browser opened, per workspace: until a workspace has a drive, this is how a
// user finds a plain document again (the server keeps no list of them).
const KEY = 'tandem.recent'
const MAX = 20

type Recent = Record<string, { doc: string; name: string; at: number }[]>

function read(): Recent {
  try {
    return (JSON.parse(localStorage.getItem(KEY) ?? '{}') as Recent) ?? {}
  } catch {
    return {}
  }
}

export function recentDocs(ws: string): { doc: string; name: string; at: number }[] {
  return read()[ws] ?? []
}

export function rememberDoc(ws: string, doc: string, name: string): void {
  const all = read()
  const list = (all[ws] ?? []).filter((entry) => entry.doc !== doc)
  list.unshift({ doc, name, at: Date.now() })
  all[ws] = list.slice(0, MAX)
  localStorage.setItem(KEY, JSON.stringify(all))
}
