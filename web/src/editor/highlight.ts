// Syntax colours: CodeMirror's default style, with the colours that fall short of WCAG AA
// (4.5:1) on the editor's white or on the active line's tint made darker: regular expressions
// and escapes (#e40, 3.8:1), types and namespaces (#085, 4.3:1 on the active line), invalid
// text (#f00, 4.0:1).
import { defaultHighlightStyle, HighlightStyle } from '@codemirror/language'

const DARKER: Record<string, string> = { '#e40': '#c2410c', '#085': '#007a4d', '#f00': '#d00000' }

export const highlightStyle = HighlightStyle.define(
  defaultHighlightStyle.specs.map((spec) => {
    const color = typeof spec.color === 'string' ? DARKER[spec.color] : undefined
    return color ? { ...spec, color } : spec
  }),
)
