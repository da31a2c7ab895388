// A run's loss curve as inline SVG: training loss as a polyline, validation loss dashed
// beside it, step along x and loss along y with their end values, and a title and
// description that say in words what the curve shows.
import { axisRange, formatNumber, plottable, type LossPoint } from './model'

const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 360
const HEIGHT = 170
const PAD = { left: 52, right: 12, top: 12, bottom: 38 }

let charts = 0

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag)
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value))
  if (text !== undefined) el.textContent = text
  return el
}

function describe(name: string, points: { step: number; loss: number }[]): string {
  if (points.length === 0) return ''
  const first = points[0]
  const last = points[points.length - 1]
  const lowest = points.reduce((a, b) => (b.loss < a.loss ? b : a))
  return (
    `${name} loss from ${formatNumber(first.loss)} at step ${first.step} to ${formatNumber(last.loss)} ` +
    `at step ${last.step}, lowest ${formatNumber(lowest.loss)} at step ${lowest.step} ` +
    `(${points.length} point${points.length === 1 ? '' : 's'}).`
  )
}

/** The chart, or null when the run logged no loss. `label` names the run, e.g. its day. */
export function lossChart(label: string, loss: LossPoint[] | null | undefined, evalLoss?: LossPoint[] | null): SVGSVGElement | null {
  const train = plottable(loss)
  const validation = plottable(evalLoss)
  if (train.length === 0 && validation.length === 0) return null
  const all = [...train, ...validation]
  const [x0, x1] = axisRange(all.map((p) => p.step))
  const [y0, y1] = axisRange(all.map((p) => p.loss))
  const plotW = WIDTH - PAD.left - PAD.right
  const plotH = HEIGHT - PAD.top - PAD.bottom
  const x = (step: number) => PAD.left + ((step - x0) / (x1 - x0)) * plotW
  const y = (value: number) => PAD.top + (1 - (value - y0) / (y1 - y0)) * plotH
  const points = (list: { step: number; loss: number }[]) =>
    list.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ')

  const id = `loss-chart-${++charts}`
  const chart = svg('svg', {
    class: 'loss-chart',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-labelledby': `${id}-title ${id}-desc`,
  })
  chart.append(
    svg('title', { id: `${id}-title` }, `Loss curve of the run on ${label}`),
    svg('desc', { id: `${id}-desc` }, [describe('Training', train), describe('Validation', validation)].filter(Boolean).join(' ')),
  )
  const bottom = PAD.top + plotH
  const right = PAD.left + plotW
  chart.append(
    svg('line', { class: 'axis', x1: PAD.left, y1: bottom, x2: right, y2: bottom }),
    svg('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom }),
    svg('line', { class: 'grid', x1: PAD.left, y1: PAD.top, x2: right, y2: PAD.top }),
    // Tick values at the ends of each axis, then the axis names.
    svg('text', { class: 'tick', x: PAD.left - 6, y: PAD.top + 4, 'text-anchor': 'end' }, formatNumber(y1, 2)),
    svg('text', { class: 'tick', x: PAD.left - 6, y: bottom, 'text-anchor': 'end' }, formatNumber(y0, 2)),
    svg('text', { class: 'tick', x: PAD.left, y: bottom + 14, 'text-anchor': 'start' }, String(Math.round(x0))),
    svg('text', { class: 'tick', x: right, y: bottom + 14, 'text-anchor': 'end' }, String(Math.round(x1))),
    svg('text', { class: 'axis-label', x: PAD.left + plotW / 2, y: HEIGHT - 6, 'text-anchor': 'middle' }, 'step'),
    svg('text', { class: 'axis-label', x: 14, y: PAD.top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${PAD.top + plotH / 2})` }, 'loss'),
  )
  if (validation.length) {
    chart.append(svg('polyline', { class: 'loss-line eval', points: points(validation), 'data-points': validation.length }))
  }
  if (train.length) {
    chart.append(svg('polyline', { class: 'loss-line train', points: points(train), 'data-points': train.length }))
    if (train.length === 1) {
      // A polyline of one point draws nothing.
      chart.append(svg('circle', { class: 'loss-dot', cx: x(train[0].step), cy: y(train[0].loss), r: 3 }))
    }
  }
  return chart
}
