// A suggestion as the server writes it into `{doc}:suggestions` (see assistant/board.py).
import * as Y from 'yjs'
import { fromBase64, toBase64 } from 'lib0/buffer'

export type Status = 'streaming' | 'pending' | 'accepted' | 'rejected' | 'stale' | 'failed' | 'cancelled'
export type Mode = 'rewrite' | 'fix' | 'complete' | 'explain'

export interface Suggestion {
  id: string
  doc_id: string
  mode: Mode
  instruction: string
  anchor_start: string
  anchor_end: string
  original: string
  proposal: string
  status: Status
  requested_by: string
  requested_by_name: string
  decided_by: string | null
  decided_by_name: string | null
  model: string | null
  error: string | null
  created_at: number
  finished_at: number | null
  decided_at: number | null
}

export const MODES: { id: Mode; label: string; hint: string }[] = [
  { id: 'rewrite', label: 'Rewrite', hint: 'Rewrite the selection as the instruction says' },
  { id: 'fix', label: 'Fix', hint: 'Fix mistakes in the selection' },
  { id: 'complete', label: 'Complete', hint: 'Continue from the cursor' },
  { id: 'explain', label: 'Explain', hint: 'Explain the selection (the text stays as it is)' },
]

export const ACTIVE: ReadonlySet<Status> = new Set(['streaming', 'pending'])

export function isActive(s: Suggestion): boolean {
  return ACTIVE.has(s.status)
}

/** An anchor for a position of the text, the way stock Yjs encodes it (base64). */
export function anchorAt(ytext: Y.Text, index: number): string {
  return toBase64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(ytext, index)))
}

/** Where an anchor points now, or null when its text is gone from this document. */
export function resolveAnchor(doc: Y.Doc, anchor: string): number | null {
  try {
    const position = Y.createAbsolutePositionFromRelativePosition(Y.decodeRelativePosition(fromBase64(anchor)), doc)
    return position ? position.index : null
  } catch {
    return null
  }
}

export function rangeOf(doc: Y.Doc, s: Suggestion): { from: number; to: number } | null {
  const from = resolveAnchor(doc, s.anchor_start)
  const to = resolveAnchor(doc, s.anchor_end)
  if (from === null || to === null) return null
  return { from, to: Math.max(from, to) }
}
