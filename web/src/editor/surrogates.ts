// Firefox types a character outside the Basic Multilingual Plane (an emoji, some CJK) from a key
// event as two input events, one UTF-16 half each. Inserted as they come, each half becomes a
// Yjs insertion of its own, and Yjs encodes a lone half as U+FFFD: every other peer and the
// server would get "��" while the typist still sees the character. Hold a trailing first half
// back until its second half arrives, and insert the pair as one change.
import type { Extension } from '@codemirror/state'
import { EditorView } from '@codemirror/view'

const isHighHalf = (code: number): boolean => code >= 0xd800 && code <= 0xdbff
const isLowHalf = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff

export function wholeCharacters(): Extension {
  let held: { at: number; half: string } | null = null
  return EditorView.inputHandler.of((view, from, to, text) => {
    const waiting = held
    held = null
    let insert = text
    if (waiting && from === waiting.at && to === from && isLowHalf(text.charCodeAt(0))) {
      insert = waiting.half + text
    } else if (!isHighHalf(text.charCodeAt(text.length - 1))) {
      return false
    }
    if (isHighHalf(insert.charCodeAt(insert.length - 1))) {
      held = { at: from + insert.length - 1, half: insert.slice(-1) }
      insert = insert.slice(0, -1)
    }
    // Dispatching (even an empty change) redraws the line, so a held half leaves the DOM too.
    view.dispatch({
      changes: { from, to, insert },
      selection: { anchor: from + insert.length },
      userEvent: 'input.type',
      scrollIntoView: true,
    })
    return true
  })
}
