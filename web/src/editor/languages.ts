// Syntax highlighting by file type.
import { css } from '@codemirror/lang-css'
import { html } from '@codemirror/lang-html'
import { javascript } from '@codemirror/lang-javascript'
import { json } from '@codemirror/lang-json'
import { markdown } from '@codemirror/lang-markdown'
import { python } from '@codemirror/lang-python'
import type { Extension } from '@codemirror/state'

export interface Language {
  id: string
  label: string
  extensions: string[]
  load(): Extension
}

export const LANGUAGES: Language[] = [
  { id: 'text', label: 'Plain text', extensions: ['txt'], load: () => [] },
  { id: 'markdown', label: 'Markdown', extensions: ['md', 'markdown'], load: () => markdown() },
  { id: 'javascript', label: 'JavaScript', extensions: ['js', 'mjs', 'cjs', 'jsx'], load: () => javascript({ jsx: true }) },
  { id: 'typescript', label: 'TypeScript', extensions: ['ts', 'mts', 'cts', 'tsx'], load: () => javascript({ typescript: true, jsx: true }) },
  { id: 'python', label: 'Python', extensions: ['py', 'pyi'], load: () => python() },
  { id: 'json', label: 'JSON', extensions: ['json'], load: () => json() },
  { id: 'css', label: 'CSS', extensions: ['css'], load: () => css() },
  { id: 'html', label: 'HTML', extensions: ['html', 'htm'], load: () => html() },
]

export function languageById(id: string | null | undefined): Language {
  return LANGUAGES.find((language) => language.id === id) ?? LANGUAGES[0]
}

export function languageForName(name: string): Language {
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  return LANGUAGES.find((language) => language.extensions.includes(ext)) ?? LANGUAGES[0]
}
