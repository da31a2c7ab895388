"""WCAG 2.x contrast (1.4.3, level AA) of the text on the main screens, from the page's computed
styles: at least 4.5:1 for normal text, 3:1 for large text (24 px, or 18.66 px bold)."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from tests.accounts import PASSWORD, sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import Tab, co_editors, sign_in
from tests.web.conftest import OpenTab

# Every visible piece of text (text nodes, form values, placeholders), its colour composited
# over the backgrounds painted beneath it (with their opacity) on the white canvas. Disabled
# controls are exempt (WCAG 1.4.3), as is text no one can see (opacity 0, clipped, hidden).
CONTRAST_JS = """() => {
  const parse = (css) => {
    const m = css.match(/^rgba?\\(([^)]+)\\)$/)
    if (!m) throw new Error('unexpected colour ' + css)
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number)
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]
  }
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3]))
  const channel = (v) => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
  const ratio = (x, y) => {
    const [hi, lo] = [luminance(x), luminance(y)].sort((a, b) => b - a)
    return (hi + 0.05) / (lo + 0.05)
  }
  const opacity = (el) => {
    let o = 1
    for (let n = el; n; n = n.parentElement) o *= Number(getComputedStyle(n).opacity)
    return o
  }
  // What is painted under the text: the elements at the text's own point, from the text's
  // element down (siblings and overlays included, not only ancestors); its ancestors where
  // that point does not reach it (no pointer events, or covered).
  const inView = ([x, y]) => x >= 0 && y >= 0 && x < innerWidth && y < innerHeight
  const beneath = (el, locate) => {
    let point = locate()
    if (point && !inView(point)) {  // elementsFromPoint sees the viewport only
      el.scrollIntoView({ block: 'center', inline: 'center' })
      point = locate()
    }
    if (point && inView(point)) {
      const stack = document.elementsFromPoint(point[0], point[1])
      const at = stack.indexOf(el)
      if (at >= 0) return stack.slice(at)
    }
    const chain = []
    for (let n = el; n; n = n.parentElement) chain.push(n)
    return chain
  }
  const centre = (rect) => rect && rect.width > 0 && rect.height > 0
    ? [rect.left + rect.width / 2, rect.top + rect.height / 2] : null
  const background = (el, locate) => {
    const layers = []
    for (const n of beneath(el, locate)) {
      const style = getComputedStyle(n)
      if (style.backgroundImage !== 'none') return null
      const c = parse(style.backgroundColor)
      if (c[3] > 0) layers.push([c[0], c[1], c[2], c[3] * opacity(n)])
      if (c[3] === 1 && opacity(n) === 1) break
    }
    let bg = [255, 255, 255]
    for (const layer of layers.reverse()) bg = over(layer, bg)
    return bg
  }
  const describe = (el) => el.tagName.toLowerCase() + [...el.classList].map((c) => '.' + c).join('')
  const checked = []
  const check = (el, text, colour, locate) => {
    const bg = background(el, locate)
    if (bg === null) return
    const style = getComputedStyle(el)
    const size = parseFloat(style.fontSize)
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700)
    const c = parse(colour)
    const fg = over([c[0], c[1], c[2], c[3] * opacity(el)], bg)
    checked.push({
      element: describe(el), text: text.trim().slice(0, 40), ratio: ratio(fg, bg),
      needed: large ? 3 : 4.5, fg: fg.map(Math.round), bg: bg.map(Math.round),
    })
  }
  const seen = (el) => {
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return false
    if (el.closest('.sr-only, :disabled') || opacity(el) === 0) return false
    const box = el.getBoundingClientRect()
    return box.width > 1 && box.height > 1
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (!seen(el)) continue
    if (el.matches('input, textarea, select')) {
      const shown = el.matches('select') ? el.selectedOptions[0]?.textContent ?? '' : el.value
      const locate = () => centre(el.getBoundingClientRect())
      if (shown.trim()) check(el, shown, getComputedStyle(el).color, locate)
      else if (el.placeholder) check(el, el.placeholder, getComputedStyle(el, '::placeholder').color, locate)
      continue
    }
    if (el.matches('option, script, style')) continue
    const nodes = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim())
    const own = nodes.map((n) => n.textContent).join('')
    // Zero-width characters (CodeMirror's and y-codemirror's caret fillers) show nothing.
    if (own.replace(/[\u200b-\u200d\u2060\ufeff]/g, '').trim()) {
      const range = document.createRange()
      range.selectNodeContents(nodes[0])
      check(el, own, getComputedStyle(el).color, () => centre(range.getClientRects()[0]))
    }
  }
  return checked
}"""


async def low_contrast(tab: Tab, screen: str, expect_at_least: int = 5) -> list[dict[str, Any]]:
    """The text on the page below its contrast minimum; fails if hardly anything was checked."""
    checked: list[dict[str, Any]] = await tab.page.evaluate(CONTRAST_JS)
    assert len(checked) >= expect_at_least, f"{screen}: only {checked} checked"
    return [
        {**item, "ratio": round(item["ratio"], 2), "screen": screen}
        for item in checked
        if item["ratio"] < item["needed"]
    ]


def report(failures: list[dict[str, Any]]) -> str:
    return "text below the WCAG AA contrast minimum:\n" + "\n".join(
        f"  {f['screen']}: {f['element']} {f['text']!r} {f['ratio']}:1 < {f['needed']}:1 "
        f"(rgb{tuple(f['fg'])} on rgb{tuple(f['bg'])})"
        for f in failures
    )


async def test_the_check_finds_grey_text_and_faded_text_on_white(
    server: TandemProcess, tabs: OpenTab
) -> None:
    t = await tabs()
    await t.page.goto(f"{server.http_url}/#/signin")
    await expect(t.page.get_by_role("button", name="Sign in")).to_be_visible()
    assert await low_contrast(t, "sign-in") == []
    await t.page.evaluate(
        """() => {
      const grey = document.createElement('p')
      grey.className = 'probe-grey'
      grey.style.cssText = 'color: #999; background: #fff'
      grey.textContent = 'grey on white'
      const faded = document.createElement('p')
      faded.className = 'probe-faded'
      faded.style.cssText = 'color: #1b1f24; opacity: 0.4'
      faded.textContent = 'faded'
      const large = document.createElement('p')
      large.className = 'probe-large'
      large.style.cssText = 'color: #888; font-size: 24px'
      large.textContent = 'large grey is enough at 3:1'
      // Dark text laid over a dark box that is its sibling, not its ancestor.
      const stage = document.createElement('div')
      stage.style.cssText = 'position: relative; height: 40px'
      const box = document.createElement('div')
      box.style.cssText = 'position: absolute; inset: 0; background: #222'
      const over = document.createElement('p')
      over.className = 'probe-over-sibling'
      over.style.cssText = 'position: relative; margin: 0; color: #444'
      over.textContent = 'dark on a dark sibling'
      stage.append(box, over)
      document.body.append(grey, faded, large, stage)
    }"""
    )
    failures = await low_contrast(t, "probe")
    assert sorted(f["element"] for f in failures) == [
        "p.probe-faded",
        "p.probe-grey",
        "p.probe-over-sibling",
    ], failures
    grey = next(f for f in failures if f["element"] == "p.probe-grey")
    assert grey["ratio"] == 2.85 and grey["needed"] == 4.5, grey


async def test_sign_in_and_sign_up_text_meets_aa_contrast(
    server: TandemProcess, tabs: OpenTab
) -> None:
    someone = await sign_up(server.http_url, "contrast-signin")
    t = await tabs()
    t.allowed.append(re.compile(r"status of 401"))  # the wrong password, on purpose
    failures = []
    await t.page.goto(f"{server.http_url}/#/signin")
    await expect(t.page.get_by_role("button", name="Sign in")).to_be_visible()
    failures += await low_contrast(t, "sign-in")
    await t.page.get_by_label("Username").fill(someone.username)
    await t.page.get_by_label("Password").fill(PASSWORD + " but wrong")
    await t.page.get_by_role("button", name="Sign in").click()
    await expect(t.page.locator(".notice.error")).to_be_visible()
    failures += await low_contrast(t, "sign-in, wrong password")
    await t.page.get_by_role("link", name="Create an account").click()
    await expect(t.page.get_by_role("button", name="Create account")).to_be_visible()
    failures += await low_contrast(t, "sign-up")
    assert not failures, report(failures)


async def test_home_and_drive_text_meets_aa_contrast(server: TandemProcess, tabs: OpenTab) -> None:
    owner = await sign_up(server.http_url, "contrast-drive")
    ws = await owner.create_workspace("Contrast")
    await owner.request(
        "POST", f"/api/workspaces/{ws}/drive/folders", json={"name": "Designs"}, expect=201
    )
    for name in ("notes.md", "old.txt"):
        response = await owner.request(
            "POST",
            f"/api/workspaces/{ws}/drive/files",
            json={"name": name, "text": "Some words."},
            expect=201,
        )
    await owner.request(
        "DELETE", f"/api/workspaces/{ws}/drive/entries/{response.json()['id']}", expect=200
    )
    t = await tabs()
    failures = []
    await sign_in(t, server.http_url, owner, "#/")
    await expect(t.page.get_by_role("link", name="Contrast")).to_be_visible()
    failures += await low_contrast(t, "home")

    await t.page.get_by_role("link", name="Contrast").click()
    row = t.page.locator('.drive .entry[data-name="notes.md"] > .row')
    await expect(row).to_be_visible()
    await t.page.locator(".drive .trash summary").click()
    await expect(t.page.locator('.drive .trash li[data-name="old.txt"]')).to_be_visible()
    await row.locator("summary").click()
    await expect(row.get_by_role("button", name="Rename")).to_be_visible()
    failures += await low_contrast(t, "workspace", expect_at_least=15)
    assert not failures, report(failures)


async def test_editor_text_meets_aa_contrast(server: TandemProcess, tabs: OpenTab) -> None:
    pair = await co_editors(server.http_url, tabs, "contrast", "Contrast editing")
    a, b = pair.a, pair.b
    # Keywords, names, a regular expression, a comment, then on the line with the caret (the
    # active line has a tint of its own) a type, a number and a string with an escape.
    code = 'const pattern = /a+b/g // a comment\nlet total: number = 42 + "tab\\there"'
    await expect(a.page.locator("#language")).to_be_visible()
    await a.page.locator("#language").select_option("typescript")
    await a.type_at_end(code)
    await b.expect_text(code)
    await a.page.wait_for_function(
        "() => [...document.querySelectorAll('.cm-line span')].some((s) => s.textContent === 'const')"
    )
    # Bob's caret label shows while the pointer is over his caret.
    caret = a.page.locator(".cm-ySelectionCaret")
    await caret.hover()
    await expect(caret.locator(".cm-ySelectionInfo")).to_have_css("opacity", "1")
    failures = await low_contrast(a, "editor", expect_at_least=20)
    # The label fades out when the pointer leaves; check the panel once it is gone.
    await a.page.mouse.move(0, 0)
    await expect(caret.locator(".cm-ySelectionInfo")).to_have_css("opacity", "0")

    await a.page.get_by_role("button", name="History").click()
    await a.page.get_by_role("button", name="Save a restore point").click()
    await expect(a.page.locator(".point-list li")).to_have_count(1)
    await expect(a.page.locator(".session-list li strong").first).to_be_visible()
    failures += await low_contrast(a, "editor with its history")
    assert not failures, report(failures)
