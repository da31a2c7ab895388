// The chaos suite's honest clients: tests/js/yclient.mjs's stock providers (connect, status,
// waits, text), and on top of them typists that insert unique markers "[writer.n]" between
// existing ones, and watchers that time when a marker reaches another client. Driven by
// bench/chaos/typists.py like yclient.mjs is by tests/yjs.py.
import { performance } from 'node:perf_hooks'
import { Y, clients, commands as clientCommands, lookup, serve } from '../../tests/js/yclient.mjs'

const MARKER = /\[\d+\.\d+\]/g

let phase = 'warmup'
const sent = new Map() // marker -> { at, phase, from }
const deliveries = [] // [marker, phase of sending, from, to, ms]: each first sight of a marker
const typing = new Set() // timers

// Yjs's index of a place in text.toString(). They differ where the Y.Text holds items it does
// not show but counts (an embed; binary or JSON content another client wrote under the same
// root name, as the fuzz does): typing at toString()'s index there lands inside a marker.
// Found by this suite (bench/chaos/hidden_content.py); the typists count like Yjs, so that a
// marker stays whole and the loss count stays about the server.
const yjsIndex = (text, at) => {
  let shown = 0
  let index = 0
  for (let item = text._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    if (item.content instanceof Y.ContentString) {
      if (shown + item.length >= at) return index + at - shown
      shown += item.length
    }
    index += item.length
  }
  return index
}

const commands = {
  ...clientCommands,

  phase ({ name }) { phase = name; return true },

  // Time every marker of another client that reaches `name`, once.
  watch ({ name }) {
    const client = lookup(clients, name)
    const seen = new Set()
    client.text.observe((event) => {
      if (event.transaction.local) return
      const at = performance.now()
      for (const op of event.delta) {
        if (typeof op.insert !== 'string') continue
        for (const [marker] of op.insert.matchAll(MARKER)) {
          const origin = sent.get(marker)
          if (seen.has(marker) || origin === undefined || origin.from === name) continue
          seen.add(marker)
          deliveries.push([marker, origin.phase, origin.from, name, at - origin.at])
        }
      }
    })
    return true
  },

  // `name` types `rate` markers a second, from a random moment within the first interval.
  type ({ name, writer, rate }) {
    const client = lookup(clients, name)
    let count = 0
    const typeOne = () => {
      const marker = `[${writer}.${count++}]`
      const current = client.text.toString()
      const close = current.indexOf(']', Math.floor(Math.random() * (current.length + 1)))
      sent.set(marker, { at: performance.now(), phase, from: name })
      client.text.insert(yjsIndex(client.text, close < 0 ? current.length : close + 1), marker)
    }
    const start = setTimeout(() => {
      typing.delete(start)
      typing.add(setInterval(typeOne, 1000 / rate))
    }, Math.random() * 1000 / rate)
    typing.add(start)
    return true
  },

  stopTyping () {
    typing.forEach((timer) => { clearTimeout(timer); clearInterval(timer) })
    typing.clear()
    return sent.size
  },

  // How many places the Y.Text counts that its text does not show.
  hidden: ({ name }) => lookup(clients, name).text.length - lookup(clients, name).text.toString().length,

  report: () => ({ written: [...sent.keys()], deliveries })
}

serve(commands)
