// Hosts many stock Yjs clients (yjs + y-websocket's WebsocketProvider, unmodified) in one
// process, driven by JSON lines on stdin; answers one JSON line per request on stdout:
//   {"id": 1, "cmd": "connect", "name": "a", "url": "ws://.../sync", "room": "doc"}
//   {"id": 1, "ok": true, "result": ...}  or  {"id": 1, "ok": false, "error": "..."}
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const clients = new Map()
const raws = new Map()

const get = (map, name) => {
  const item = map.get(name)
  if (!item) throw new Error(`no client named ${name}`)
  return item
}

// Resolves when check() is true, re-checking on each event; rejects after timeoutMs.
const waitUntil = (check, subscribe, timeoutMs, describe) => new Promise((resolve, reject) => {
  let unsubscribe = () => {}
  const timer = setTimeout(() => {
    unsubscribe()
    reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`))
  }, timeoutMs)
  const attempt = () => {
    let value
    try {
      value = check()
    } catch (error) {
      clearTimeout(timer)
      unsubscribe()
      reject(error)
      return
    }
    if (value !== undefined && value !== false) {
      clearTimeout(timer)
      unsubscribe()
      resolve(value)
    }
  }
  unsubscribe = subscribe(attempt)
  attempt()
})

const onDoc = (client) => (fn) => {
  client.doc.on('update', fn)
  return () => client.doc.off('update', fn)
}
const onAwareness = (client) => (fn) => {
  client.provider.awareness.on('change', fn)
  return () => client.provider.awareness.off('change', fn)
}
const onProvider = (client, events) => (fn) => {
  events.forEach(e => client.provider.on(e, fn))
  return () => events.forEach(e => client.provider.off(e, fn))
}

// A small seeded PRNG (mulberry32) so random edit runs can be replayed.
const prng = (seed) => () => {
  seed |= 0; seed = seed + 0x6D2B79F5 | 0
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed)
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
  return ((t ^ t >>> 14) >>> 0) / 4294967296
}

const commands = {
  ping: () => 'pong',
  connect ({ name, url, room, params = {} }) {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(url, room, doc, {
      WebSocketPolyfill: WebSocket, disableBc: true, params
    })
    const client = { doc, provider, text: doc.getText('content'), closes: [] }
    provider.on('connection-close', (event) => {
      client.closes.push({ code: event?.code ?? null, reason: event?.reason ?? '' })
      provider.emit('tandem-close', [])
    })
    clients.set(name, client)
    return doc.clientID
  },
  waitSynced: ({ name, timeoutMs = 10000 }) => {
    const c = get(clients, name)
    return waitUntil(() => c.provider.synced, onProvider(c, ['sync']), timeoutMs, () => 'not synced')
  },
  insert ({ name, index, text }) { get(clients, name).text.insert(index, text); return true },
  delete ({ name, index, length }) { get(clients, name).text.delete(index, length); return true },
  text: ({ name }) => get(clients, name).text.toString(),
  length: ({ name }) => get(clients, name).text.length,
  stateVector: ({ name }) => Buffer.from(Y.encodeStateVector(get(clients, name).doc)).toString('base64'),
  clientId: ({ name }) => get(clients, name).doc.clientID,
  waitText ({ name, equals, minLength, timeoutMs = 10000 }) {
    const c = get(clients, name)
    const check = () => equals !== undefined ? c.text.toString() === equals : c.text.length >= minLength
    return waitUntil(check, onDoc(c), timeoutMs,
      () => `text is ${JSON.stringify(c.text.toString().slice(0, 200))} (${c.text.length} chars)`)
  },
  waitStateVector ({ name, stateVector, timeoutMs = 10000 }) {
    const c = get(clients, name)
    const check = () => Buffer.from(Y.encodeStateVector(c.doc)).toString('base64') === stateVector
    return waitUntil(check, onDoc(c), timeoutMs, () => 'state vectors differ')
  },
  clocks: ({ name }) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(get(clients, name).doc))),
  waitClocks ({ name, clocks, timeoutMs = 15000 }) {
    const c = get(clients, name)
    const check = () => Object.entries(clocks)
      .every(([client, clock]) => Y.getState(c.doc.store, Number(client)) >= clock)
    return waitUntil(check, onDoc(c), timeoutMs, () => 'missing updates')
  },
  randomEdits ({ name, count, seed, maxInsert = 8 }) {
    const c = get(clients, name)
    const random = prng(seed)
    for (let i = 0; i < count; i++) {
      const len = c.text.length
      if (len > 0 && random() < 0.3) {
        const at = Math.floor(random() * len)
        c.text.delete(at, Math.min(len - at, 1 + Math.floor(random() * 4)))
      } else {
        const chars = Array.from({ length: 1 + Math.floor(random() * maxInsert) },
          () => String.fromCharCode(97 + Math.floor(random() * 26))).join('')
        c.text.insert(Math.floor(random() * (len + 1)), chars)
      }
    }
    return c.text.length
  },
  setAwareness ({ name, state }) { get(clients, name).provider.awareness.setLocalState(state); return true },
  awarenessStates ({ name }) {
    const c = get(clients, name)
    return Object.fromEntries([...c.provider.awareness.getStates()]
      .filter(([id]) => id !== c.doc.clientID))
  },
  waitAwareness ({ name, clientId, present, timeoutMs = 10000 }) {
    const c = get(clients, name)
    const check = () => c.provider.awareness.getStates().has(clientId) === present
    return waitUntil(check, onAwareness(c), timeoutMs, () => `awareness of ${clientId} present=${!present}`)
  },
  disconnect ({ name }) { get(clients, name).provider.disconnect(); return true },
  reconnect ({ name }) { get(clients, name).provider.connect(); return true },
  status ({ name }) {
    const c = get(clients, name)
    return { connected: c.provider.wsconnected, synced: c.provider.synced, closes: c.closes }
  },
  waitClosed ({ name, count = 1, timeoutMs = 10000 }) {
    const c = get(clients, name)
    return waitUntil(() => c.closes.length >= count && c.closes, onProvider(c, ['tandem-close']),
      timeoutMs, () => `closes: ${JSON.stringify(c.closes)}`)
  },
  destroy ({ name }) { get(clients, name).provider.destroy(); clients.delete(name); return true },
  rawOpen ({ name, url }) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      const raw = { ws, closed: null, frames: 0 }
      ws.on('message', () => { raw.frames++ })
      ws.on('close', (code, reason) => { raw.closed = { code, reason: reason.toString() }; ws.emit('tandem-close') })
      ws.on('error', () => {})
      ws.once('open', () => { raws.set(name, raw); resolve(true) })
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  },
  rawSend ({ name, base64, text }) {
    const raw = get(raws, name)
    raw.ws.send(text !== undefined ? text : Buffer.from(base64, 'base64'), { binary: text === undefined })
    return true
  },
  rawWaitClose ({ name, timeoutMs = 10000 }) {
    const raw = get(raws, name)
    return waitUntil(() => raw.closed ?? undefined, (fn) => {
      raw.ws.on('tandem-close', fn)
      return () => raw.ws.off('tandem-close', fn)
    }, timeoutMs, () => 'socket still open')
  },
  exit () {
    for (const c of clients.values()) c.provider.destroy()
    for (const r of raws.values()) r.ws.terminate()
    setImmediate(() => process.exit(0))
    return true
  }
}

const reply = (message) => process.stdout.write(JSON.stringify(message) + '\n')

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  let request
  try {
    request = JSON.parse(line)
    const handler = commands[request.cmd]
    if (!handler) throw new Error(`unknown command ${request.cmd}`)
    reply({ id: request.id, ok: true, result: (await handler(request)) ?? null })
  } catch (error) {
    reply({ id: request?.id ?? null, ok: false, error: String(error?.stack ?? error) })
  }
})
process.stdin.on('end', () => process.exit(0))
