// A stock Yjs client (yjs + y-websocket's WebsocketProvider) watching a workspace's live tree
// document. Prints one JSON line whenever its view changes:
//   {"synced": true, "entries": {"<entry id>": {...}, ...}}
// stdin commands, one per line: {"cmd": "forge", "key": "...", "value": {...}} writes into the
// map (the server must drop it: the tree is server-only); {"cmd": "exit"}.
// Imports resolve into tests/js/node_modules (installed by `npm ci --prefix tests/js`).
import * as Y from '../js/node_modules/yjs/dist/yjs.mjs'
import { WebsocketProvider } from '../js/node_modules/y-websocket/src/y-websocket.js'
import WebSocket from '../js/node_modules/ws/wrapper.mjs'
import readline from 'node:readline'

console.log = console.info = console.debug = console.error

const [url, room, token] = process.argv.slice(2)
const doc = new Y.Doc()
const entries = doc.getMap('entries')
const provider = new WebsocketProvider(url, room, doc, {
  WebSocketPolyfill: WebSocket, disableBc: true, params: token ? { token } : {}
})
const emit = () => {
  try {
    process.stdout.write(JSON.stringify({ synced: provider.synced, entries: entries.toJSON() }) + '\n')
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: String(error?.stack ?? error) }) + '\n')
  }
}
provider.on('sync', emit)
doc.on('update', emit)
provider.on('connection-close', (event) => {
  if (event != null) process.stdout.write(JSON.stringify({ closed: event.code }) + '\n')
})

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line)
  if (command.cmd === 'forge') entries.set(command.key, command.value)
  if (command.cmd === 'exit') { provider.destroy(); setImmediate(() => process.exit(0)) }
})
process.stdin.on('end', () => { provider.destroy(); setImmediate(() => process.exit(0)) })
