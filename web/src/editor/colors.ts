// A stable colour per user, dark enough for white caret labels (WCAG AA on white text).
const PALETTE = ['#b3261e', '#1a6b3c', '#1f5fbf', '#8a3ffc', '#a3470a', '#00727a', '#b0176b', '#5c5f00']

export function userColor(userId: string): { color: string; colorLight: string } {
  // FNV-1a: ids that differ in one character still spread over the palette.
  let hash = 0x811c9dc5
  for (let i = 0; i < userId.length; i++) {
    hash ^= userId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  const color = PALETTE[hash % PALETTE.length]
  return { color, colorLight: color + '33' }
}
