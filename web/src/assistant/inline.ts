// Suggestions inline in the editor: the original struck through, the proposal beside it as it
// streams, who asked and which model, with Accept and Reject for editors.
import { type Extension, RangeSetBuilder, StateEffect, StateField } from '@codemirror/state'
import { Decoration, type DecorationSet, EditorView, keymap, WidgetType } from '@codemirror/view'
import { ySyncAnnotation } from 'y-codemirror.next'
import type * as Y from 'yjs'
import { isActive, rangeOf, type Suggestion } from './model'

export interface InlineActions {
  canDecide: boolean
  accept(s: Suggestion): void
  reject(s: Suggestion): void
}

export const setSuggestions = StateEffect.define<Suggestion[]>()

class ProposalWidget extends WidgetType {
  constructor(
    readonly s: Suggestion,
    readonly actions: InlineActions,
  ) {
    super()
  }

  eq(other: ProposalWidget): boolean {
    return other.s.id === this.s.id && other.s.status === this.s.status && other.s.proposal === this.s.proposal && other.actions.canDecide === this.actions.canDecide
  }

  toDOM(): HTMLElement {
    const s = this.s
    const box = document.createElement('span')
    box.className = `cm-sugg cm-sugg-${s.status} cm-sugg-mode-${s.mode}`
    box.dataset.suggestion = s.id
    const text = document.createElement(s.mode === 'explain' ? 'span' : 'ins')
    text.className = 'cm-sugg-proposal'
    text.textContent = s.proposal || (s.status === 'streaming' ? '…' : '')
    box.append(text)
    const meta = document.createElement('span')
    meta.className = 'cm-sugg-meta'
    meta.textContent = `${s.requested_by_name}${s.model ? ' · ' + s.model : ''}${s.status === 'streaming' ? ' · writing…' : ''}`
    box.append(meta)
    if (this.actions.canDecide && s.status === 'pending') {
      if (s.mode !== 'explain') box.append(this.button('Accept', 'accept', () => this.actions.accept(s)))
      box.append(this.button(s.mode === 'explain' ? 'Dismiss' : 'Reject', 'reject', () => this.actions.reject(s)))
    }
    return box
  }

  private button(label: string, kind: string, run: () => void): HTMLElement {
    const button = document.createElement('button')
    button.type = 'button'
    button.className = `cm-sugg-${kind}`
    button.textContent = label
    button.setAttribute('aria-label', `${label} the suggestion by ${this.s.requested_by_name}`)
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', (event) => {
      event.preventDefault()
      run()
    })
    return button
  }

  ignoreEvent(): boolean {
    return true
  }
}

export function suggestionsInline(ydoc: Y.Doc, actions: InlineActions): Extension {
  const build = (list: Suggestion[], docLength: number): DecorationSet => {
    const items: { from: number; to: number; s: Suggestion }[] = []
    for (const s of list) {
      if (!isActive(s)) continue
      const range = rangeOf(ydoc, s)
      if (!range || range.to > docLength) continue
      items.push({ ...range, s })
    }
    items.sort((a, b) => a.from - b.from || a.to - b.to)
    const builder = new RangeSetBuilder<Decoration>()
    // RangeSetBuilder wants ranges in order: collect marks and widgets, then add sorted.
    const pieces: { from: number; to: number; deco: Decoration }[] = []
    for (const { from, to, s } of items) {
      if (to > from && s.mode !== 'explain') {
        pieces.push({ from, to, deco: Decoration.mark({ class: 'cm-sugg-original', attributes: { title: `suggestion by ${s.requested_by_name}` } }) })
      }
      pieces.push({ from: to, to: to, deco: Decoration.widget({ widget: new ProposalWidget(s, actions), side: 1 }) })
    }
    pieces.sort((a, b) => a.from - b.from || a.deco.startSide - b.deco.startSide)
    for (const piece of pieces) builder.add(piece.from, piece.to, piece.deco)
    return builder.finish()
  }

  const field = StateField.define<{ list: Suggestion[]; decorations: DecorationSet }>({
    create: () => ({ list: [], decorations: Decoration.none }),
    update(value, tr) {
      let list = value.list
      for (const effect of tr.effects) if (effect.is(setSuggestions)) list = effect.value
      const remote = tr.annotation(ySyncAnnotation) !== undefined
      if (list === value.list && !remote) {
        // A local edit reaches the Y.Doc only after this update: move what is shown with the
        // text for now; the next remote change or suggestion update re-resolves the anchors.
        return tr.docChanged ? { list, decorations: value.decorations.map(tr.changes) } : value
      }
      return { list, decorations: build(list, tr.state.doc.length) }
    },
    provide: (f) => EditorView.decorations.from(f, (value) => value.decorations),
  })

  const atCursor = (view: EditorView): Suggestion | null => {
    const head = view.state.selection.main.head
    const { list } = view.state.field(field)
    for (const s of list) {
      if (s.status !== 'pending') continue
      const range = rangeOf(ydoc, s)
      if (range && head >= range.from && head <= range.to) return s
    }
    return null
  }

  return [
    field,
    keymap.of([
      {
        key: 'Alt-Enter',
        run: (view) => {
          const s = atCursor(view)
          if (!s || !actions.canDecide || s.mode === 'explain') return false
          actions.accept(s)
          return true
        },
      },
      {
        key: 'Alt-Backspace',
        run: (view) => {
          const s = atCursor(view)
          if (!s || !actions.canDecide) return false
          actions.reject(s)
          return true
        },
      },
    ]),
  ]
}
