// Drives a stock Firefox (Debian's firefox-esr) over WebDriver BiDi with puppeteer-core, for
// pytest (tests/web/firefox_driver.py). Playwright's own BiDi Firefox needs commands this
// Firefox does not have yet, and its patched Firefox cannot be downloaded here.
//
// Protocol: the one of tests/js/yclient.mjs, so tests/yjs.py's YjsClients carries it: one JSON
// command per stdin line, {id, cmd, page?, ...}; one reply per stdout line, {id, ok: true, result}
// or {id, ok: false, error}. Each page lives in its own browser context (its own cookies and
// storage: another person).
import readline from 'node:readline'
import puppeteer, { Puppeteer } from 'puppeteer-core'

// Selectors by what a person reads, like Playwright's get_by_label and get_by_role. Puppeteer's
// own ::-p-aria() (Firefox's accessibility locator) finds a screen's first render but nothing
// once the app has replaced the screen (sign in -> create an account), so tests would hang.
// ::-p-label(Username): the form control labelled so (<label>, aria-label, aria-labelledby).
Puppeteer.customQueryHandlers.register('label', {
  queryAll: (root, name) => {
    const text = (el) => el.textContent.replace(/\s+/g, ' ').trim()
    const found = new Set()
    for (const label of root.querySelectorAll('label')) if (text(label) === name && label.control) found.add(label.control)
    for (const el of root.querySelectorAll('[aria-label], [aria-labelledby]')) {
      const ids = el.getAttribute('aria-labelledby')?.split(/\s+/) ?? []
      const labelled = ids.map((id) => document.getElementById(id)).filter(Boolean).map(text).join(' ')
      if (el.getAttribute('aria-label') === name || (ids.length && labelled === name)) found.add(el)
    }
    return [...found]
  },
})
// ::-p-button(Sign in) and ::-p-link(Create an account): by exact accessible name. Handlers
// run in the page as source text, so each carries its own copy of the name rule.
Puppeteer.customQueryHandlers.register('button', {
  queryAll: (root, name) =>
    Array.from(root.querySelectorAll('button, [role="button"], input[type="submit"], summary')).filter(
      (el) => (el.getAttribute('aria-label') ?? el.textContent.replace(/\s+/g, ' ').trim()) === name,
    ),
})
Puppeteer.customQueryHandlers.register('link', {
  queryAll: (root, name) =>
    Array.from(root.querySelectorAll('a[href], [role="link"]')).filter(
      (el) => (el.getAttribute('aria-label') ?? el.textContent.replace(/\s+/g, ' ').trim()) === name,
    ),
})

const executablePath = process.argv[2]
const browser = await puppeteer.launch({ browser: 'firefox', executablePath, headless: true })
const pages = new Map()
let nextPage = 1

function send(message) {
  process.stdout.write(JSON.stringify(message) + '\n')
}

function pageOf(command) {
  const entry = pages.get(command.page)
  if (!entry) throw new Error(`no page ${command.page}`)
  return entry
}

// "Control+End" -> hold Control, press End, release Control (Playwright's notation).
async function press(page, keys) {
  const parts = keys.split('+')
  const key = parts.pop()
  for (const modifier of parts) await page.keyboard.down(modifier)
  await page.keyboard.press(key)
  for (const modifier of parts.reverse()) await page.keyboard.up(modifier)
}

const ops = {
  async open({ width, height }) {
    const context = await browser.createBrowserContext()
    // A window each: tabs of one window are hidden but the front one, and a hidden page runs
    // no animation frames (CodeMirror measures in them, puppeteer waits on them to click).
    const page = await context.newPage({ type: 'window' })
    await page.setViewport({ width, height })
    const id = nextPage++
    const entry = { context, page, errors: [] }
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'assert') {
        entry.errors.push(`console.${message.type()}: ${message.text()}`)
      }
    })
    page.on('pageerror', (error) => entry.errors.push(`uncaught: ${error?.message ?? error}`))
    pages.set(id, entry)
    return id
  },
  async close(command) {
    const { context } = pageOf(command)
    pages.delete(command.page)
    await context.close()
    return null
  },
  async goto(command) {
    await pageOf(command).page.goto(command.url)
    return null
  },
  async reload(command) {
    await pageOf(command).page.reload()
    return null
  },
  async click(command) {
    await pageOf(command).page.locator(command.selector).setTimeout(command.timeoutMs).click()
    return null
  },
  async fill(command) {
    await pageOf(command).page.locator(command.selector).setTimeout(command.timeoutMs).fill(command.value)
    return null
  },
  async select(command) {
    const { page } = pageOf(command)
    await page.locator(command.selector).setTimeout(command.timeoutMs).wait()
    return await page.select(command.selector, command.value)
  },
  // Picks files in an <input type=file>, as the file chooser would.
  async upload(command) {
    const { page } = pageOf(command)
    const input = await page.locator(command.selector).setTimeout(command.timeoutMs).waitHandle()
    await input.uploadFile(...command.paths)
    return null
  },
  async press(command) {
    await press(pageOf(command).page, command.keys)
    return null
  },
  async type(command) {
    await pageOf(command).page.keyboard.type(command.text)
    return null
  },
  async evaluate(command) {
    return await pageOf(command).page.evaluate(command.expression)
  },
  // Resolves true once the expression is truthy, false when the timeout passes first.
  async wait(command) {
    try {
      await pageOf(command).page.waitForFunction(command.expression, { timeout: command.timeoutMs, polling: 50 })
      return true
    } catch (error) {
      if (error?.name === 'TimeoutError') return false
      throw error
    }
  },
  async screenshot(command) {
    await pageOf(command).page.screenshot({ path: command.path })
    return null
  },
  async errors(command) {
    return pageOf(command).errors
  },
  ping: () => 'pong',
  version: () => browser.version(),
  async exit() {
    await browser.close()
    setImmediate(() => process.exit(0))
    return null
  },
}

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const command = JSON.parse(line)
  const op = ops[command.cmd]
  // Commands run concurrently (two tabs type at once); each reply carries its id.
  Promise.resolve()
    .then(() => {
      if (!op) throw new Error(`unknown command ${command.cmd}`)
      return op(command)
    })
    .then(
      (result) => send({ id: command.id, ok: true, result: result ?? null }),
      (error) => {
        // A timeout's stack is puppeteer's internals; the command and selector say more.
        const detail = error?.name === 'TimeoutError' ? error.message : String(error?.stack ?? error)
        const target = command.selector ? ` ${command.selector}` : ''
        send({ id: command.id, ok: false, error: `${command.cmd}${target}: ${detail}` })
      },
    )
}
// stdin closed without an exit: pytest is gone.
await ops.exit()
