// The drive's entries as the API and the live tree document (`tree:{ws}`) give them.

export type EntryKind = 'folder' | 'text' | 'binary'

export interface Entry {
  id: string
  parent_id: string | null
  name: string
  kind: EntryKind
  size: number
  content_type: string | null
  doc_id: string | null
  created_by: string
  created_at: number
  modified_by: string
  modified_at: number
  trashed_at: number | null
  trashed_by: string | null
}

export interface DriveListing {
  tree_doc: string
  entries: Entry[]
  trash: Entry[]
  usage_bytes: number
  quota_bytes: number
  max_upload_bytes: number
}

/** Every entry by id, and the live children of each folder ('' is the top). */
export class TreeIndex {
  readonly byId = new Map<string, Entry>()
  private readonly children = new Map<string, Entry[]>()

  constructor(entries: Iterable<Entry>) {
    for (const entry of entries) this.byId.set(entry.id, entry)
    for (const entry of this.byId.values()) {
      if (!this.isLive(entry)) continue
      const parent = entry.parent_id ?? ''
      const list = this.children.get(parent) ?? []
      list.push(entry)
      this.children.set(parent, list)
    }
    for (const list of this.children.values()) list.sort(compareEntries)
  }

  childrenOf(folderId: string): Entry[] {
    return this.children.get(folderId) ?? []
  }

  /** Shown when neither it nor a folder above it is in the trash. */
  isLive(entry: Entry): boolean {
    const seen = new Set<string>()
    let current: Entry | undefined = entry
    while (current) {
      if (current.trashed_at !== null && current.trashed_at !== undefined) return false
      if (!current.parent_id || seen.has(current.id)) return true
      seen.add(current.id)
      current = this.byId.get(current.parent_id)
    }
    return true
  }

  /** Entries the user put in the trash themselves (not those inside a trashed folder). */
  trashed(): Entry[] {
    return [...this.byId.values()]
      .filter((entry) => entry.trashed_at !== null && entry.trashed_at !== undefined)
      .sort((a, b) => (b.trashed_at ?? 0) - (a.trashed_at ?? 0))
  }

  path(entry: Entry): string {
    const names: string[] = []
    const seen = new Set<string>()
    let current: Entry | undefined = entry
    while (current && !seen.has(current.id)) {
      seen.add(current.id)
      names.unshift(current.name)
      current = current.parent_id ? this.byId.get(current.parent_id) : undefined
    }
    return names.join('/')
  }

  /** True when `folderId` is `entryId` or lies below it (a move there would make a cycle). */
  isWithin(folderId: string, entryId: string): boolean {
    const seen = new Set<string>()
    let current: string | null | undefined = folderId
    while (current && !seen.has(current)) {
      if (current === entryId) return true
      seen.add(current)
      current = this.byId.get(current)?.parent_id
    }
    return false
  }

  folders(): Entry[] {
    return [...this.byId.values()].filter((e) => e.kind === 'folder' && this.isLive(e)).sort((a, b) => this.path(a).localeCompare(this.path(b)))
  }
}

function compareEntries(a: Entry, b: Entry): number {
  if ((a.kind === 'folder') !== (b.kind === 'folder')) return a.kind === 'folder' ? -1 : 1
  return a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: 'base' })
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

export function formatTime(seconds: number): string {
  const date = new Date(seconds * 1000)
  const today = new Date()
  return date.toDateString() === today.toDateString()
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}
