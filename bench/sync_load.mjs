// Load generator for the sync benchmark: real Yjs clients (stock y-websocket provider) against
// any y-websocket server. Prints one JSON object with its measurements on stdout.
//
//   node sync_load.mjs latency --url ws://127.0.0.1:8000/sync --docs 50 --clients 4 --rate 10
//   node sync_load.mjs connect --url ... --bytes 1000000 --repeats 20
//   node sync_load.mjs idle    --url ... --conns 1000 --docs 100   (holds them until stdin closes)
// --url takes a comma-separated list: clients of a document are spread over them in turn
// (one URL per pod). --provider hocuspocus drives Hocuspocus's own provider instead.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider } from '@hocuspocus/provider'
import WebSocket from 'ws'
import { performance } from 'node:perf_hooks'
import { writeFileSync } from 'node:fs'

const [mode, ...rest] = process.argv.slice(2)
const opts = { url: 'ws://127.0.0.1:8000/sync', docs: 50, clients: 4, rate: 10, duration: 20,
  warmup: 3, bytes: 100000, repeats: 20, conns: 1000, prefix: `b${Date.now().toString(36)}`,
  params: '', provider: 'y-websocket' }
for (let i = 0; i < rest.length; i += 2) {
  const key = rest[i].replace(/^--/, '')
  opts[key] = typeof opts[key] === 'number' ? Number(rest[i + 1]) : rest[i + 1]
}
const params = opts.params ? Object.fromEntries(new URLSearchParams(opts.params)) : {}

const urls = opts.url.split(',')
let nextUrl = 0

const connect = (room) => {
  const doc = new Y.Doc()
  const pod = nextUrl++ % urls.length
  const url = urls[pod]
  const provider = opts.provider === 'hocuspocus'
    ? new HocuspocusProvider({ url, name: room, document: doc, WebSocketPolyfill: WebSocket })
    : new WebsocketProvider(url, room, doc, {
      WebSocketPolyfill: WebSocket, disableBc: true, params, resyncInterval: -1
    })
  return { doc, provider, pod, text: doc.getText('content') }
}

const isSynced = (provider) => provider.synced ?? provider.isSynced

const synced = (client, timeoutMs = 60000) => new Promise((resolve, reject) => {
  if (isSynced(client.provider)) return resolve()
  const timer = setTimeout(() => reject(new Error('sync timeout')), timeoutMs)
  client.provider.on(opts.provider === 'hocuspocus' ? 'synced' : 'sync', () => {
    if (!isSynced(client.provider)) return
    clearTimeout(timer)
    resolve()
  })
})

const percentile = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))] : null
const summary = (values) => {
  const sorted = Float64Array.from(values).sort()
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95),
    p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : null }
}
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

async function latency () {
  const sent = new Map() // "client:clock" -> send time, shared: all clients live in this process
  const latencies = []
  const raw = [] // [ms since the load started, latency ms], written to --raw FILE
  let started = 0
  const crossPod = [] // deliveries whose sender is connected to another pod
  let expected = 0
  let updatesSent = 0 // over the whole load, warm-up included: what the server's CPU paid for
  let received = 0
  let measuring = false
  const docs = []
  for (let d = 0; d < opts.docs; d++) {
    const clients = []
    for (let c = 0; c < opts.clients; c++) {
      const client = connect(`${opts.prefix}-lat-${d}`)
      client.doc.on('update', (update, origin) => {
        if (origin !== client.provider) return
        const meta = Y.parseUpdateMeta(update)
        for (const [id, clock] of meta.from) {
          const origin = sent.get(`${id}:${clock}`)
          if (origin !== undefined) {
            received++
            if (measuring) {
              const latency = performance.now() - origin.t
              latencies.push(latency)
              if (opts.raw) raw.push([Math.round(origin.t - started), Math.round(latency * 1000) / 1000])
              if (origin.pod !== client.pod) crossPod.push(latency)
            }
          }
        }
      })
      clients.push(client)
    }
    docs.push(clients)
  }
  await Promise.all(docs.flat().map(c => synced(c)))
  const timers = []
  started = performance.now()
  for (const clients of docs) {
    for (const client of clients) {
      const tick = () => {
        const clock = Y.getState(client.doc.store, client.doc.clientID)
        const pos = Math.floor(Math.random() * (client.text.length + 1))
        sent.set(`${client.doc.clientID}:${clock}`, { t: performance.now(), pod: client.pod })
        if (measuring) expected += opts.clients - 1
        updatesSent++
        client.text.insert(pos, Math.random().toString(36).slice(2, 10))
      }
      const start = setTimeout(() => timers.push(setInterval(tick, 1000 / opts.rate)),
        Math.random() * 1000 / opts.rate)
      timers.push(start)
    }
  }
  await sleep(opts.warmup * 1000)
  const receivedAtStart = received
  measuring = true
  await sleep(opts.duration * 1000)
  measuring = false
  timers.forEach(t => { clearTimeout(t); clearInterval(t) })
  const measuredSent = expected
  // Let in-flight updates land, then check every client of a doc holds the same text.
  await sleep(2000)
  let diverged = 0
  for (const clients of docs) {
    const first = clients[0].text.toString()
    if (clients.some(c => c.text.toString() !== first)) diverged++
  }
  docs.flat().forEach(c => c.provider.destroy())
  if (opts.raw) writeFileSync(opts.raw, JSON.stringify(raw))
  return { mode: 'latency', provider: opts.provider, urls: urls.length, docs: opts.docs, clients: opts.clients, rate: opts.rate,
    seconds: opts.duration, wall_s: (performance.now() - started) / 1000,
    expected_deliveries: measuredSent, measured_deliveries: latencies.length,
    total_received: received - receivedAtStart, diverged_docs: diverged, updates_sent: updatesSent,
    deliveries_per_s: latencies.length / opts.duration,
    latency_ms: summary(latencies), cross_pod_latency_ms: summary(crossPod) }
}

async function connectTime () {
  const room = `${opts.prefix}-conn-${opts.bytes}`
  const seeder = connect(room)
  await synced(seeder)
  const chunk = 'x'.repeat(1000)
  for (let written = 0; written < opts.bytes; written += chunk.length) {
    seeder.text.insert(Math.floor(Math.random() * (seeder.text.length + 1)), chunk)
  }
  // The document is on the server once a fresh client sees all of it.
  const check = connect(room)
  await synced(check)
  while (check.text.length < seeder.text.length) await new Promise(resolve => check.text.observe(resolve))
  check.provider.destroy()
  const times = []
  for (let i = 0; i < opts.repeats; i++) {
    const t0 = performance.now()
    const client = connect(room)
    await synced(client)
    times.push(performance.now() - t0)
    if (client.text.length !== seeder.text.length) throw new Error('joiner is missing content')
    client.provider.destroy()
  }
  seeder.provider.destroy()
  return { mode: 'connect', bytes: opts.bytes, update_bytes: Y.encodeStateAsUpdate(seeder.doc).length,
    connect_ms: summary(times), ...(opts.raw ? { raw: times.map(t => Math.round(t)) } : {}) }
}

async function idle () {
  const clients = []
  for (let i = 0; i < opts.conns; i++) clients.push(connect(`${opts.prefix}-idle-${i % opts.docs}`))
  await Promise.all(clients.map(c => synced(c, 120000)))
  process.stdout.write(JSON.stringify({ mode: 'idle', ready: true, conns: opts.conns }) + '\n')
  await new Promise(resolve => process.stdin.on('end', resolve).resume())
  clients.forEach(c => c.provider.destroy())
  return null
}

const run = { latency, connect: connectTime, idle }[mode]
if (!run) {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}
run().then(result => {
  if (result) process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}, error => {
  console.error(error)
  process.exit(1)
})
