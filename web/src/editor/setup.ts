// The CodeMirror extensions every document gets: a basic editing setup without CodeMirror's
// own history (undo is Yjs's, so it undoes only this user's edits).
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { bracketMatching, foldGutter, foldKeymap, indentOnInput, syntaxHighlighting } from '@codemirror/language'
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search'
import type { Extension } from '@codemirror/state'
import {
  crosshairCursor,
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from '@codemirror/view'
import { yUndoManagerKeymap } from 'y-codemirror.next'
import { highlightStyle } from './highlight'
import { wholeCharacters } from './surrogates'

export function baseSetup(label: string): Extension {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    foldGutter(),
    highlightSpecialChars(),
    drawSelection(),
    dropCursor(),
    indentOnInput(),
    syntaxHighlighting(highlightStyle, { fallback: true }),
    bracketMatching(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    EditorView.lineWrapping,
    wholeCharacters(),
    EditorView.contentAttributes.of({ 'aria-label': label }),
    // Escape then Tab still moves focus out of the editor (CodeMirror's escape hatch).
    keymap.of([...yUndoManagerKeymap, ...defaultKeymap, ...searchKeymap, ...foldKeymap, indentWithTab]),
  ]
}
