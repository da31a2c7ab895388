// Opening a file at a line (`?line=N`): once the document has synced, the line is selected,
// scrolled to the middle and marked, so a search hit or a citation lands where it points.
import { StateEffect, StateField } from '@codemirror/state'
import { Decoration, type DecorationSet, EditorView } from '@codemirror/view'
import type { WebsocketProvider } from 'y-websocket'

const markLine = StateEffect.define<number>()
const marked = Decoration.line({ class: 'cm-revealed-line' })

/** The line a link pointed at, marked until the document is reopened. */
export const revealedLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(set, tr) {
    set = set.map(tr.changes)
    for (const effect of tr.effects) {
      if (effect.is(markLine)) set = Decoration.set([marked.range(effect.value)])
    }
    return set
  },
  provide: (field) => EditorView.decorations.from(field),
})

/** Reveals 1-based `line` (clamped to the text) after the first sync; returns a cleanup. */
export function revealOnSync(provider: WebsocketProvider, editor: EditorView, line: number): () => void {
  const reveal = () => {
    const doc = editor.state.doc
    const target = doc.line(Math.min(Math.max(line, 1), doc.lines))
    // The field is added on first use, in its own step, so that it exists to see the mark.
    if (editor.state.field(revealedLine, false) === undefined) {
      editor.dispatch({ effects: StateEffect.appendConfig.of(revealedLine) })
    }
    editor.dispatch({
      selection: { anchor: target.from },
      effects: [
        markLine.of(target.from),
        EditorView.scrollIntoView(target.from, { y: 'center' }),
      ],
    })
  }
  if (provider.synced) {
    reveal()
    return () => {}
  }
  const onSync = (synced: boolean) => {
    if (!synced) return
    provider.off('sync', onSync)
    // y-codemirror applies the synced text in the same tick; reveal after it.
    queueMicrotask(reveal)
  }
  provider.on('sync', onSync)
  return () => provider.off('sync', onSync)
}
