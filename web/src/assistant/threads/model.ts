// The shapes of the threads API and of a thread's live document entries.
import type * as Y from 'yjs'

export interface Thread {
  id: string
  workspace_id: string
  title: string
  doc_id: string | null
  created_by_name: string
  created_at: number
  updated_at: number
  answer_every: boolean
  live_doc: string
}

export interface Citation {
  n: number
  path: string
  file_id: string
  doc_id?: string
  start_line: number
  end_line: number
}

export interface Message {
  id: string
  seq: number
  role: 'user' | 'assistant'
  author_id: string | null
  author_name: string
  reply_to: string | null
  text: string
  status: 'done' | 'streaming' | 'stopped' | 'failed'
  created_at: number
  edited_at: number | null
  deleted_at: number | null
  error: string | null
  citations: Citation[]
  feedback?: { up: number; down: number }
  /** How many members prefer this answer to the other answers to its question. */
  preferred?: number
}

export interface Edit {
  block: number
  language: string | null
  path: string | null
  file_id: string | null
  doc_id: string | null
  start_line: number | null
  end_line: number | null
  applied: null | { set_id: string; suggestion_id: string }
  problem: string | null
}

export interface Applied {
  set_id: string
  suggestions: { block: number; doc_id: string; file_id: string; path: string; suggestion_id: string }[]
}

export interface SetAccepted {
  accepted: string[]
  stale: string[]
  skipped: string[]
}

function json<T>(raw: unknown, fallback: T): T {
  if (typeof raw !== 'string') return (raw as T) ?? fallback
  try {
    return JSON.parse(raw) as T
  } catch {
    return fallback
  }
}

/** A live document entry as a Message (its text read from its Y.Text). */
export function fromLive(entry: Y.Map<unknown>): Message {
  const text = entry.get('text')
  return {
    id: String(entry.get('id')),
    seq: Number(entry.get('seq')),
    role: entry.get('role') === 'assistant' ? 'assistant' : 'user',
    author_id: (entry.get('author_id') as string | null) ?? null,
    author_name: String(entry.get('author_name') ?? ''),
    reply_to: (entry.get('reply_to') as string | null) ?? null,
    text: text ? String(text) : '',
    status: (entry.get('status') as Message['status']) ?? 'done',
    created_at: Number(entry.get('created_at') ?? 0),
    edited_at: (entry.get('edited_at') as number | null) ?? null,
    deleted_at: (entry.get('deleted_at') as number | null) ?? null,
    error: (entry.get('error') as string | null) ?? null,
    citations: json<Citation[]>(entry.get('citations'), []),
    feedback: json<Message['feedback']>(entry.get('feedback'), undefined),
    preferred: Number(entry.get('preferred') ?? 0),
  }
}
