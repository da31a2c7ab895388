// Bundles src/ into dist/: content-hashed assets under dist/assets/ (cached for a year by the
// server) and an index.html naming them (never cached), so a deploy is picked up on reload.
import * as esbuild from 'esbuild'
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(fileURLToPath(import.meta.url))
const dist = path.join(root, 'dist')

await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.ts' },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  outdir: 'dist/assets',
  entryNames: '[name]-[hash]',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  legalComments: 'linked',
})

const outputs = Object.keys(result.metafile.outputs)
const pick = (ext) => {
  const found = outputs.find((file) => file.endsWith(ext) && path.basename(file).startsWith('app-'))
  if (!found) throw new Error(`no ${ext} output from esbuild`)
  return '/' + path.relative(dist, path.join(root, found)).split(path.sep).join('/')
}
const template = await readFile(path.join(root, 'src/index.html'), 'utf8')
const html = template.replace('%APP_JS%', pick('.js')).replace('%APP_CSS%', pick('.css'))
await writeFile(path.join(dist, 'index.html'), html)
// Precompressed copies: the server sends these to browsers that accept them, so the bundle
// is compressed once here instead of on every request.
let compressed = 0
for (const file of outputs.filter((f) => /\.(js|css)$/.test(f))) {
  const raw = await readFile(path.join(root, file))
  const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } })
  await writeFile(path.join(root, file + '.gz'), gzipSync(raw, { level: 9 }))
  await writeFile(path.join(root, file + '.br'), br)
  compressed += br.length
}
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0)
console.log(
  `web: built dist/ (${outputs.length} files, ${Math.round(bytes / 1024)} KiB; ` +
    `js+css ${Math.round(compressed / 1024)} KiB with brotli)`,
)
