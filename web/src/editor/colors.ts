// A stable colour per user, dark enough for white caret labels (WCAG AA on white text).
const PALETTE = ['#b3261e', '#1a6b3c', '#1f5fbf', '#8a3ffc', '#a3470a', '#00727a', '#b0176b', '#5c5f00']

export function userColor(userId: string): { color: string; colorLight: string } {
  let hash = 0
  for (const ch of userId) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0
  const color = PALETTE[hash % PALETTE.length]
  return { color, colorLight: color + '33' }
}
