// The JS side of anchor interop: stock Yjs (from tests/js) encodes and decodes relative
// positions on a document state the test hands over. One JSON request per stdin line:
//   {"update": b64, "decode": [b64, ...]}             -> {"indices": [utf16 index | null, ...]}
//   {"update": b64, "encode": [[utf16 index, assoc]]} -> {"anchors": [b64, ...]}
// The text is the Y.Text named "content"; indices are UTF-16 code units, as in the browser.
import * as Y from '../../js/node_modules/yjs/dist/yjs.mjs'
import readline from 'node:readline'

const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64'))

const handle = (request) => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, unb64(request.update))
  const text = doc.getText('content')
  if (request.decode) {
    return {
      text: text.toString(),
      indices: request.decode.map((anchor) => {
        const abs = Y.createAbsolutePositionFromRelativePosition(Y.decodeRelativePosition(unb64(anchor)), doc)
        return abs === null ? null : abs.index
      })
    }
  }
  return {
    anchors: request.encode.map(([index, assoc]) =>
      b64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(text, index, assoc))))
  }
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  try {
    process.stdout.write(JSON.stringify({ ok: true, ...handle(JSON.parse(line)) }) + '\n')
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error?.stack ?? error) }) + '\n')
  }
})
