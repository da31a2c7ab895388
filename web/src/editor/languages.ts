// Syntax highlighting by file type. Each language's parser is its own chunk, fetched when a
// file of that type opens, so the first load carries none of them.
import type { Extension } from '@codemirror/state'

export interface Language {
  id: string
  label: string
  extensions: string[]
  load(): Promise<Extension>
}

export const LANGUAGES: Language[] = [
  { id: 'text', label: 'Plain text', extensions: ['txt'], load: async () => [] },
  { id: 'markdown', label: 'Markdown', extensions: ['md', 'markdown'], load: async () => (await import('@codemirror/lang-markdown')).markdown() },
  { id: 'javascript', label: 'JavaScript', extensions: ['js', 'mjs', 'cjs', 'jsx'], load: async () => (await import('@codemirror/lang-javascript')).javascript({ jsx: true }) },
  { id: 'typescript', label: 'TypeScript', extensions: ['ts', 'mts', 'cts', 'tsx'], load: async () => (await import('@codemirror/lang-javascript')).javascript({ typescript: true, jsx: true }) },
  { id: 'python', label: 'Python', extensions: ['py', 'pyi'], load: async () => (await import('@codemirror/lang-python')).python() },
  { id: 'json', label: 'JSON', extensions: ['json'], load: async () => (await import('@codemirror/lang-json')).json() },
  { id: 'css', label: 'CSS', extensions: ['css'], load: async () => (await import('@codemirror/lang-css')).css() },
  { id: 'html', label: 'HTML', extensions: ['html', 'htm'], load: async () => (await import('@codemirror/lang-html')).html() },
]
export function languageById(id: string | null | undefined): Language {
  return LANGUAGES.find((language) => language.id === id) ?? LANGUAGES[0]
}

export function languageForName(name: string): Language {
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  return LANGUAGES.find((language) => language.extensions.includes(ext)) ?? LANGUAGES[0]
}
