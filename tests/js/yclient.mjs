// One Node process hosting many named stock Yjs clients (yjs + y-websocket's WebsocketProvider)
// and plain `ws` sockets, driven by tests/yjs.py. One JSON request per stdin line:
//   {"id": 1, "cmd": "connect", "name": "a", "url": "ws://127.0.0.1:1234", "room": "doc"}
// one reply per request on stdout, in completion order:
//   {"id": 1, "ok": true, "result": ...}  |  {"id": 1, "ok": false, "error": "..."}
// and unsolicited events: {"event": "error", "name": "a" | null, "error": "..."}.
// Other scripts (bench/chaos/typists.mjs) import it to add commands of their own, and reach
// yjs through it, so that one copy of yjs is loaded.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'
import { isDeepStrictEqual } from 'node:util'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export { Y }

// stdout carries protocol lines only.
console.log = console.info = console.debug = console.error
// Each provider adds a process 'exit' listener; many clients are the point here.
process.setMaxListeners(0)

export const clients = new Map()
const sockets = new Map()

class Failure extends Error {}

const emit = (line) => process.stdout.write(JSON.stringify(line) + '\n')
const describe = (error) => error instanceof Failure ? error.message : String(error?.stack ?? error)
const report = (holder, error) => {
  holder?.errors.push(describe(error))
  emit({ event: 'error', name: holder?.name ?? null, error: describe(error) })
}
process.on('uncaughtException', (error) => report(null, error))
process.on('unhandledRejection', (error) => report(null, error))

export const lookup = (map, name) => {
  const item = map.get(name)
  if (item === undefined) throw new Failure(`no client or socket named ${JSON.stringify(name)}`)
  return item
}

// In Node an exception escaping a socket handler stalls that socket without a trace. The
// provider's handlers run through this `ws` subclass, which catches, keeps and reports it, as a
// browser would; the protocol and the provider stay stock.
const guardedWebSocket = (client) => {
  class GuardedWebSocket extends WebSocket {}
  for (const key of ['onopen', 'onmessage', 'onclose', 'onerror']) {
    const { get, set } = Object.getOwnPropertyDescriptor(WebSocket.prototype, key)
    Object.defineProperty(GuardedWebSocket.prototype, key, {
      get,
      set (handler) {
        set.call(this, typeof handler !== 'function' ? handler : (event) => {
          try { handler(event) } catch (error) { report(client, error) }
        })
      }
    })
  }
  return GuardedWebSocket
}

// Resolves with check()'s value once it is truthy, re-checked on every event `subscribe`
// delivers; rejects after timeoutMs with what was seen last.
export const waitUntil = (check, subscribe, timeoutMs, seen) => new Promise((resolve, reject) => {
  let unsubscribe = () => {}
  const finish = (settle, value) => { clearTimeout(timer); unsubscribe(); settle(value) }
  const timer = setTimeout(() => finish(reject, new Failure(`timed out after ${timeoutMs} ms: ${seen()}`)), timeoutMs)
  const attempt = () => {
    try {
      const value = check()
      if (value) finish(resolve, value)
    } catch (error) {
      finish(reject, error)
    }
  }
  unsubscribe = subscribe(attempt)
  attempt()
})

export const on = (emitter, ...events) => (fn) => {
  events.forEach((event) => emitter.on(event, fn))
  return () => events.forEach((event) => emitter.off(event, fn))
}

const base64 = (bytes) => Buffer.from(bytes).toString('base64')

// mulberry32: a tiny seeded PRNG, so a random edit run can be replayed.
const prng = (seed) => () => {
  seed = seed + 0x6D2B79F5 | 0
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed)
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
  return ((t ^ t >>> 14) >>> 0) / 4294967296
}

const randomEdit = (text, random) => {
  const length = text.length
  if (length > 0 && random() < 0.3) {
    const index = Math.floor(random() * length)
    text.delete(index, Math.min(length - index, 1 + Math.floor(random() * 4)))
  } else {
    const chars = Array.from({ length: 1 + Math.floor(random() * 8) },
      () => String.fromCharCode(97 + Math.floor(random() * 26)))
    text.insert(Math.floor(random() * (length + 1)), chars.join(''))
  }
}

const othersAwareness = (client) => Object.fromEntries(
  [...client.provider.awareness.getStates()].filter(([id]) => id !== client.doc.clientID))

const includes = (found, part) =>
  found !== undefined && Object.entries(part).every(([k, v]) => isDeepStrictEqual(found[k], v))

const awarenessPredicate = (client, { count, has, state, includes: part, lacks }) => {
  const states = client.provider.awareness.getStates()
  if (count !== undefined) return states.size - (states.has(client.doc.clientID) ? 1 : 0) === count
  if (has !== undefined) {
    return states.has(has) &&
      (state === undefined || isDeepStrictEqual(states.get(has), state)) &&
      (part === undefined || includes(states.get(has), part))
  }
  if (lacks !== undefined) return !states.has(lacks)
  throw new Failure('predicate needs one of count, has, lacks')
}

const covers = (doc, stateVector) => [...Y.decodeStateVector(Buffer.from(stateVector, 'base64'))]
  .every(([client, clock]) => Y.getState(doc.store, client) >= clock)

export const commands = {
  ping: () => 'pong',

  connect ({ name, url, room, params = {} }) {
    if (clients.has(name)) throw new Failure(`client ${name} exists`)
    const doc = new Y.Doc()
    const client = { name, doc, text: doc.getText('content'), closes: [], errors: [] }
    client.provider = new WebsocketProvider(url, room, doc, {
      WebSocketPolyfill: guardedWebSocket(client), disableBc: true, connect: true, params
    })
    // `event` is null for closes the provider made itself (disconnect, its silence watchdog).
    client.provider.on('connection-close', (event) => {
      if (event != null) client.closes.push({ code: event.code, reason: String(event.reason ?? '') })
    })
    client.provider.on('closed', (terminal) => { client.terminalClose = terminal })
    clients.set(name, client)
    return doc.clientID
  },
  waitSynced ({ name, timeoutMs = 10000 }) {
    const c = lookup(clients, name)
    return waitUntil(() => c.provider.synced, on(c.provider, 'sync'), timeoutMs,
      () => `not synced (connected: ${c.provider.wsconnected}, closes: ${JSON.stringify(c.closes)})`)
  },
  insert ({ name, index, text }) { lookup(clients, name).text.insert(index, text); return true },
  delete ({ name, index, length }) { lookup(clients, name).text.delete(index, length); return true },
  text: ({ name }) => lookup(clients, name).text.toString(),
  stateVector: ({ name }) => base64(Y.encodeStateVector(lookup(clients, name).doc)),
  encodeState: ({ name }) => base64(Y.encodeStateAsUpdate(lookup(clients, name).doc)),
  waitText ({ name, equals, contains, timeoutMs = 10000 }) {
    const c = lookup(clients, name)
    if ((equals === undefined) === (contains === undefined)) throw new Failure('waitText needs one of equals, contains')
    const check = () => equals !== undefined ? c.text.toString() === equals : c.text.toString().includes(contains)
    return waitUntil(check, on(c.doc, 'update'), timeoutMs,
      () => `text is ${JSON.stringify(c.text.toString().slice(0, 500))} (${c.text.length} chars)`)
  },
  waitCovers ({ name, stateVector, timeoutMs = 10000 }) {
    const c = lookup(clients, name)
    return waitUntil(() => covers(c.doc, stateVector), on(c.doc, 'update'), timeoutMs,
      () => `has ${JSON.stringify(Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(c.doc))))}`)
  },
  async randomEdits ({ name, count, seed, ratePerSec }) {
    const c = lookup(clients, name)
    const random = prng(seed)
    const start = Date.now()
    for (let i = 0; i < count; i++) {
      if (ratePerSec) {
        const due = start + i * 1000 / ratePerSec - Date.now()
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due)) // pacing, not a wait
      }
      randomEdit(c.text, random)
    }
    return c.text.length
  },

  setAwareness ({ name, state }) { lookup(clients, name).provider.awareness.setLocalState(state); return true },
  awareness: ({ name }) => othersAwareness(lookup(clients, name)),
  waitAwareness ({ name, predicate, timeoutMs = 10000 }) {
    const c = lookup(clients, name)
    return waitUntil(() => awarenessPredicate(c, predicate) && othersAwareness(c),
      on(c.provider.awareness, 'change'), timeoutMs,
      () => `${JSON.stringify(predicate)} not met by ${JSON.stringify(othersAwareness(c))}`)
  },
  clientId: ({ name }) => lookup(clients, name).doc.clientID,

  disconnect ({ name }) { lookup(clients, name).provider.disconnect(); return true },
  reconnect ({ name }) { lookup(clients, name).provider.connect(); return true },
  status ({ name }) {
    const { provider, closes, terminalClose, errors } = lookup(clients, name)
    return {
      connected: provider.wsconnected,
      synced: provider.synced,
      broadcastChannel: provider.bcconnected,
      closes,
      lastClose: closes.at(-1) ?? null,
      terminalClose: terminalClose ?? null,
      errors
    }
  },
  waitClosed ({ name, count = 1, timeoutMs = 10000 }) {
    const c = lookup(clients, name)
    return waitUntil(() => c.closes.length >= count && c.closes, on(c.provider, 'connection-close'),
      timeoutMs, () => `closes: ${JSON.stringify(c.closes)}`)
  },
  destroy ({ name }) {
    lookup(clients, name).provider.destroy()
    clients.delete(name)
    return true
  },

  rawSocket ({ name, url }) {
    if (sockets.has(name)) throw new Failure(`socket ${name} exists`)
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      const raw = { name, ws, received: [], closed: null, errors: [] }
      ws.on('message', (data) => { raw.received.push(base64(data)) })
      ws.on('close', (code, reason) => { raw.closed = { code, reason: reason.toString() } })
      ws.on('error', (error) => { raw.errors.push(describe(error)); reject(error) })
      ws.on('unexpected-response', (_request, response) => {
        reject(new Failure(`HTTP ${response.statusCode} instead of a websocket`))
        ws.terminate()
      })
      ws.once('open', () => { sockets.set(name, raw); resolve(true) })
    })
  },
  rawSend ({ name, base64: data, text }) {
    const { ws } = lookup(sockets, name)
    return new Promise((resolve, reject) => {
      const payload = text ?? Buffer.from(data, 'base64')
      ws.send(payload, { binary: text === undefined }, (error) => error ? reject(error) : resolve(true))
    })
  },
  rawMessages ({ name, count = 0, timeoutMs = 10000 }) {
    const raw = lookup(sockets, name)
    return waitUntil(() => raw.received.length >= count && raw.received, on(raw.ws, 'message'),
      timeoutMs, () => `${raw.received.length} of ${count} messages`)
  },
  rawClose ({ name, code, reason }) { lookup(sockets, name).ws.close(code ?? undefined, reason ?? undefined); return true },
  rawWaitClose ({ name, timeoutMs = 10000 }) {
    const raw = lookup(sockets, name)
    return waitUntil(() => raw.closed, on(raw.ws, 'close'), timeoutMs,
      () => `socket still open (errors: ${JSON.stringify(raw.errors)})`)
  },

  exit () {
    for (const c of clients.values()) c.provider.destroy()
    for (const raw of sockets.values()) raw.ws.terminate()
    clients.clear()
    sockets.clear()
    setImmediate(() => process.exit(0))
    return true
  }
}

const handle = (commands) => async (line) => {
  let request = null
  try {
    request = JSON.parse(line)
    const command = Object.hasOwn(commands, request.cmd) ? commands[request.cmd] : null
    if (command === null) throw new Failure(`unknown command ${JSON.stringify(request.cmd)}`)
    emit({ id: request.id, ok: true, result: (await command(request)) ?? null })
  } catch (error) {
    emit({ id: request?.id ?? null, ok: false, error: describe(error) })
  }
}

// Answers requests on stdin with `commands` until stdin ends.
export const serve = (commands) => {
  readline.createInterface({ input: process.stdin }).on('line', handle(commands))
  process.stdin.on('end', () => commands.exit())
}

if (realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) serve(commands)
