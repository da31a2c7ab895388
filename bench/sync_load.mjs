// Load generator for the sync benchmark: real Yjs clients (stock y-websocket provider) against
// any y-websocket server. Prints one JSON object with its measurements on stdout.
//
//   node sync_load.mjs latency --url ws://127.0.0.1:8000/sync --docs 50 --clients 4 --rate 10
//   node sync_load.mjs connect --url ... --bytes 1000000 --repeats 20
//   node sync_load.mjs idle    --url ... --conns 1000 --docs 100   (holds them until stdin closes)
//   node sync_load.mjs churn   --url ... --docs 300 --bytes 13000  (open, type, close)
//   node sync_load.mjs burst   --url ... --conns 1000 --bytes 100000 (join one doc at once)
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
  params: '', provider: 'y-websocket', threads: 1 }
for (let i = 0; i < rest.length; i += 2) {
  const key = rest[i].replace(/^--/, '')
  opts[key] = typeof opts[key] === 'number' ? Number(rest[i + 1]) : rest[i + 1]
}
const params = opts.params ? Object.fromEntries(new URLSearchParams(opts.params)) : {}

const urls = opts.url.split(',')
let nextUrl = 0

const connect = (room, pod = nextUrl++ % urls.length) => {
  const doc = new Y.Doc()
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

// Latency: the clients run on --threads worker threads (default 1), client c of document d on
// thread (d * clients + c) % threads. Each thread has its own heap, so a garbage collection
// pauses only its own clients, for less time: with one thread holding all 200 documents of the
// 50-doc load, its scavenges and mark-compacts (up to 100 ms) made the p99 of any server. Send
// times go through shared memory on one clock (timeOrigin + now), so every delivery is timed,
// whichever thread sent it. Each thread also reports its own event loop's delay: the floor
// under what this generator can measure.
const TICK_CHARS = 8 // every edit inserts this many ASCII characters: clock / 8 numbers the edit
const LOOP_SAMPLE_MS = 10 // how often a thread samples its event loop's delay

async function latency () {
  const { Worker } = await import('node:worker_threads')
  const threads = Math.max(1, opts.threads)
  const total = opts.docs * opts.clients
  const ticks = Math.ceil((opts.warmup + opts.duration + 5) * opts.rate) + 16
  const shared = {
    sentAt: new SharedArrayBuffer(total * ticks * 8), // absolute ms, per (client, edit)
    state: new SharedArrayBuffer(total * ticks * 4), // 0 unsent, 1 warm-up, 2 measured
    ids: new SharedArrayBuffer(total * 8), // each client's Yjs clientID
    phase: new SharedArrayBuffer(4) // 0 warm-up, 1 measuring, 2 stopped
  }
  const phase = new Int32Array(shared.phase)
  const workers = []
  let finished = false
  for (let t = 0; t < threads; t++) {
    const worker = new Worker(new URL(import.meta.url), {
      argv: process.argv.slice(2), workerData: { thread: t, threads, ticks, shared, prefix: opts.prefix }
    })
    // A thread that fails fails the run, whenever it happens.
    worker.on('error', error => { console.error(error); process.exit(1) })
    worker.on('exit', code => {
      if (!finished) { console.error(`load thread ${t} exited (${code})`); process.exit(1) }
    })
    workers.push(worker)
  }
  const next = (worker) => new Promise(resolve => worker.once('message', resolve))
  await Promise.all(workers.map(next)) // connected and synced
  const started = performance.timeOrigin + performance.now()
  workers.forEach(w => w.postMessage({ go: started }))
  await sleep(opts.warmup * 1000)
  Atomics.store(phase, 0, 1)
  await sleep(opts.duration * 1000)
  Atomics.store(phase, 0, 2)
  // Let in-flight updates land, then check every client of a doc holds the same text.
  await sleep(2000)
  const done = workers.map(next)
  workers.forEach(w => w.postMessage({ report: true }))
  const reports = await Promise.all(done)
  finished = true
  await Promise.all(workers.map(w => w.terminate()))
  let diverged = 0
  for (let d = 0; d < opts.docs; d++) {
    const texts = reports.flatMap(r => r.texts[d] ?? [])
    if (texts.some(text => text !== texts[0])) diverged++
  }
  const latencies = reports.flatMap(r => Array.from(r.latencies))
  const crossPod = reports.flatMap(r => Array.from(r.crossPod))
  if (opts.raw) writeFileSync(opts.raw, JSON.stringify(reports.flatMap(r => r.raw)))
  const sum = (key) => reports.reduce((n, r) => n + r[key], 0)
  const loopDelays = reports.map(r => r.loopDelay)
  return { mode: 'latency', provider: opts.provider, urls: urls.length, docs: opts.docs, clients: opts.clients, rate: opts.rate,
    seconds: opts.duration, threads, wall_s: (performance.timeOrigin + performance.now() - started) / 1000,
    expected_deliveries: sum('expected'), measured_deliveries: latencies.length,
    total_received: sum('received'), diverged_docs: diverged, updates_sent: sum('updatesSent'),
    deliveries_per_s: latencies.length / opts.duration,
    latency_ms: summary(latencies), cross_pod_latency_ms: summary(crossPod),
    generator_loop_delay_ms: {
      p99: Math.max(...loopDelays.map(l => l.p99)), max: Math.max(...loopDelays.map(l => l.max))
    } }
}

async function latencyThread ({ thread, threads, ticks, shared, prefix }) {
  opts.prefix = prefix // the same documents as every other thread
  const { parentPort } = await import('node:worker_threads')
  const { monitorEventLoopDelay } = await import('node:perf_hooks')
  const sentAt = new Float64Array(shared.sentAt)
  const state = new Int32Array(shared.state)
  const ids = new Float64Array(shared.ids)
  const phase = new Int32Array(shared.phase)
  const now = () => performance.timeOrigin + performance.now()
  const mine = []
  for (let g = thread; g < opts.docs * opts.clients; g += threads) mine.push(g)
  let indexOf = null // clientID -> global index, once every thread has written its ids
  const latencies = []
  const crossPod = []
  const raw = []
  let started = 0
  let expected = 0
  let received = 0
  let updatesSent = 0
  const clients = mine.map(g => {
    const doc = Math.floor(g / opts.clients)
    const client = connect(`${opts.prefix}-lat-${doc}`, g % urls.length)
    client.doc.on('update', (update, origin) => {
      if (origin !== client.provider || indexOf === null) return
      const meta = Y.parseUpdateMeta(update)
      for (const [id, clock] of meta.from) {
        const sender = indexOf.get(id)
        if (sender === undefined) continue
        const slot = sender * ticks + clock / TICK_CHARS
        const sent = Atomics.load(state, slot) // read before the time it guards
        if (sent === 0) continue
        received++
        if (sent === 2) {
          const latency = now() - sentAt[slot]
          latencies.push(latency)
          if (opts.raw) raw.push([Math.round(sentAt[slot] - started), Math.round(latency * 1000) / 1000])
          if (sender % urls.length !== client.pod) crossPod.push(latency)
        }
      }
    })
    ids[g] = client.doc.clientID
    return { ...client, g, docIndex: doc }
  })
  await Promise.all(clients.map(c => synced(c)))
  parentPort.postMessage({ ready: true })
  const { go } = await new Promise(resolve => parentPort.once('message', resolve))
  started = go
  indexOf = new Map()
  for (let g = 0; g < ids.length; g++) indexOf.set(ids[g], g)
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS })
  loopDelay.enable()
  const timers = []
  for (const client of clients) {
    let edits = 0
    const tick = () => {
      const current = Atomics.load(phase, 0)
      if (current === 2 || edits >= ticks) return
      const clock = Y.getState(client.doc.store, client.doc.clientID)
      const slot = client.g * ticks + clock / TICK_CHARS
      sentAt[slot] = now()
      Atomics.store(state, slot, current === 1 ? 2 : 1)
      if (current === 1) expected += opts.clients - 1
      updatesSent++
      edits++
      const pos = Math.floor(Math.random() * (client.text.length + 1))
      client.text.insert(pos, Math.random().toString(36).slice(2, 2 + TICK_CHARS).padEnd(TICK_CHARS, '0'))
    }
    timers.push(setTimeout(() => timers.push(setInterval(tick, 1000 / opts.rate)),
      Math.random() * 1000 / opts.rate))
  }
  await new Promise(resolve => parentPort.once('message', resolve)) // report
  loopDelay.disable()
  timers.forEach(t => { clearTimeout(t); clearInterval(t) })
  const texts = {}
  for (const client of clients) (texts[client.docIndex] ??= []).push(client.text.toString())
  clients.forEach(c => c.provider.destroy())
  parentPort.postMessage({
    latencies: Float64Array.from(latencies), crossPod: Float64Array.from(crossPod), raw, texts,
    expected, received, updatesSent,
    // The histogram holds each wake-up's whole wait: the delay is what came on top of it.
    loopDelay: { p99: loopDelay.percentile(99) / 1e6 - LOOP_SAMPLE_MS, max: loopDelay.max / 1e6 - LOOP_SAMPLE_MS }
  })
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

// Opens --docs documents (one client each), types --bytes characters into each, then closes
// them all; once every document's text is on the server (a second client sees it), prints.
async function churn () {
  const chunk = 'lorem ipsum dolor sit amet, '.repeat(8)
  const cycle = `${opts.prefix}-churn-${Date.now().toString(36)}`
  const writers = []
  for (let i = 0; i < opts.docs; i++) writers.push(connect(`${cycle}-${i}`))
  await Promise.all(writers.map(c => synced(c, 120000)))
  for (const w of writers) {
    for (let written = 0; written < opts.bytes; written += chunk.length) {
      w.text.insert(Math.floor(Math.random() * (w.text.length + 1)), chunk)
    }
  }
  for (let i = 0; i < writers.length; i++) {
    const check = connect(`${cycle}-${i}`)
    await synced(check, 120000)
    while (check.text.length < writers[i].text.length) await new Promise(resolve => check.text.observe(resolve))
    check.provider.destroy()
  }
  writers.forEach(w => w.provider.destroy())
  return { mode: 'churn', docs: opts.docs, bytes: opts.bytes }
}

// --conns clients join one document at once; reports the time until all are synced and how
// many connections closed or failed on the way (a refused or reset one reconnects, so it is
// counted here rather than seen as a stall).
async function burst () {
  const room = opts.room ?? `${opts.prefix}-burst`
  const seeder = connect(room)
  await synced(seeder)
  seeder.text.insert(0, 'x'.repeat(opts.bytes))
  let closes = 0
  let errors = 0
  const codes = {}
  const t0 = performance.now()
  const clients = []
  for (let i = 0; i < opts.conns; i++) {
    const client = connect(room)
    client.provider.on('connection-close', (event) => {
      if (!isSynced(client.provider)) {
        closes++
        const key = `${event?.code} ${event?.reason ?? ''}`
        codes[key] = (codes[key] ?? 0) + 1
      }
    })
    client.provider.on('connection-error', () => { errors++ })
    clients.push(client)
  }
  await Promise.all(clients.map(c => synced(c, 120000)))
  const allSynced = performance.now() - t0
  const short = clients.filter(c => c.text.length !== seeder.text.length).length
  clients.forEach(c => c.provider.destroy())
  seeder.provider.destroy()
  return { mode: 'burst', conns: opts.conns, all_synced_ms: allSynced, closes_before_synced: closes,
    close_codes: codes, errors, missing_content: short }
}

const { isMainThread, workerData } = await import('node:worker_threads')
const run = isMainThread
  ? { latency, connect: connectTime, idle, churn, burst }[mode]
  : () => latencyThread(workerData)
if (!run) {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}
if (!isMainThread) {
  await run() // a failure reaches the main thread as the worker's 'error' event
} else run().then(result => {
  if (result) process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}, error => {
  console.error(error)
  process.exit(1)
})
