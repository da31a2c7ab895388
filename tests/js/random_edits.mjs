// Updates stock Yjs writes for random edits of three co-editors, one base64 line each:
// "u <update>" (each transaction's, each document whole, diffs, a merge) or "s <state vector>".
// node random_edits.mjs SEED COUNT
import * as Y from 'yjs'

let seed = Number(process.argv[2] ?? 1)
const count = Number(process.argv[3] ?? 300)
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}
const pick = (items) => items[Math.floor(random() * items.length)]
const word = () => pick(['a', 'ü', '😀', '\n', 'word ', 'x'.repeat(200), 'é'.repeat(70), ''])
const json = (depth = 0) => {
  const kind = Math.floor(random() * (depth > 2 ? 5 : 7))
  const values = [() => null, () => true, () => 42, () => 3.25, () => 'text',
    () => [json(depth + 1), json(depth + 1)], () => ({ k: json(depth + 1) })]
  return values[kind]()
}

const out = []
const emit = (kind, bytes) => out.push(`${kind} ${Buffer.from(bytes).toString('base64')}`)
const docs = [1, 2 ** 32 - 1, 300].map((id) => {
  const doc = new Y.Doc()
  doc.clientID = id
  doc.on('update', (update, origin) => {
    if (origin !== 'remote') {
      emit('u', update)
      for (const other of docs) if (other !== doc) Y.applyUpdate(other, update, 'remote')
    }
  })
  return doc
})
const states = []
for (let step = 0; step < count; step++) {
  const doc = docs[step % 3]
  const text = doc.getText('content')
  const meta = doc.getMap('meta')
  const items = doc.getArray('items')
  const xml = doc.getXmlFragment('xml')
  const at = Math.floor(random() * (text.length + 1))
  switch (Math.floor(random() * 12)) {
    case 0: case 1: case 2: text.insert(at, word()); break
    case 3: if (text.length) text.delete(Math.min(at, text.length - 1), 1 + Math.floor(random() * 3)); break
    case 4: text.format(0, Math.min(text.length, 3), { bold: pick([true, null]) }); break
    case 5: text.insertEmbed(at, { image: json() }, { alt: 'x' }); break
    case 6: meta.set(pick(['a', 'b']), pick([json(), new Uint8Array([1, 2, 3])])); break
    case 7: items.push([json(), json()]); if (items.length > 4) items.delete(0, 1); break
    case 8: { const nested = new Y.Map(); meta.set('nested', nested); nested.set('t', new Y.Text('in')); items.push([new Y.Array()]); break }
    case 9: { const el = new Y.XmlElement('p'); el.setAttribute('class', 'c'); const t = new Y.XmlText(); el.insert(0, [t]); xml.push([el]); t.insert(0, word(), { bold: true }); break }
    case 10: meta.set('sub', new Y.Doc({ guid: `sub-${step}` })); break
    default: doc.transact(() => { text.insert(0, 'abc'); text.delete(1, 1) })
  }
  states.push(Y.encodeStateVector(doc))
}
for (const doc of docs) emit('u', Y.encodeStateAsUpdate(doc))
for (const state of states.filter((_, i) => i % 37 === 0)) emit('u', Y.encodeStateAsUpdate(docs[0], state))
for (const state of states) emit('s', state)
const updates = out.filter((line) => line.startsWith('u ')).map((line) => Buffer.from(line.slice(2), 'base64'))
emit('u', Y.mergeUpdates(updates))
process.stdout.write(out.join('\n') + '\n')
