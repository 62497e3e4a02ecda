"""A piano roll that plays along with an audio player, and lets the user drag across bars.

`roll_value` turns a melody into the component's value (a small JSON dict); `RollPlayer`
is a `gr.HTML` whose JavaScript draws it as SVG:

- notes as bars, 5 px per sixteenth at the default zoom (+/- buttons), scrolled sideways;
- pitch rows named with naturals (C4, D4, ...; black-key rows shaded), bar numbers on top,
  bold lines at the 2-bar latent boundaries;
- regenerated bars shaded, with the notes they replaced drawn faint underneath;
- its own audio player (the value's "audio_url", set by `with_audio` once the preview is
  rendered) and a playhead that follows it and keeps itself in view while it plays;
- under it, the result's score (the value's "score_url", an SVG image of `demo.score_view`) and
  links to its ABC and MusicXML files (`with_notation`);
- with `selectable`, dragging across the bar numbers (or the notes) selects whole 2-bar
  latents: the value's "selection" becomes [first bar, last bar], its "dragged" True, and a
  change event fires.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import gradio as gr
import numpy as np

from core.music.constants import BARS_PER_CHUNK, STEPS_PER_BAR, STEPS_PER_CHUNK
from core.music.forms import SECTION_LATENTS, Form, letters
from core.music.melody import notes_from_melody

PIXELS_PER_STEP = 5  # one sixteenth at the default zoom

ROLL_HTML = """
<div class="roll-player">
  <div class="roll-head"><span class="roll-title"></span>
    <span class="roll-zoom"><button type="button" data-zoom="0.5" title="zoom out">&minus;</button
    ><button type="button" data-zoom="2" title="zoom in">+</button></span></div>
  <div class="roll-body"><svg class="roll-keys"></svg>
    <div class="roll-scroll"><svg class="roll-grid"></svg><div class="roll-playhead"></div></div></div>
  <div class="roll-hint"></div>
  <div class="roll-audio"></div>
  <div class="roll-notation"><div class="roll-downloads"></div><img class="roll-score" alt=""></div>
</div>
"""

ROLL_CSS = """
.roll-player { font: 11px/1.3 system-ui, sans-serif; color: #333; }
.roll-head { display: flex; justify-content: space-between; align-items: center; min-height: 22px; }
.roll-title { font-weight: 600; }
.roll-zoom button { display: inline-flex; align-items: center; justify-content: center; width: 28px; height: 24px;
  margin-left: 4px; padding: 0; border: 1px solid #ccc; border-radius: 4px; background: #fff; cursor: pointer;
  font-size: 16px; line-height: 1; }
.roll-body { display: flex; border: 1px solid #ddd; border-radius: 4px; background: #fff; }
.roll-keys { flex: none; width: 34px; }
.roll-scroll { position: relative; overflow-x: auto; overflow-y: hidden; flex: 1; }
.roll-grid { display: block; touch-action: pan-y; }
.roll-grid .roll-ruler { cursor: col-resize; touch-action: none; }
.roll-playhead { position: absolute; top: 0; bottom: 0; left: 0; width: 2px; background: #e45756;
  pointer-events: none; display: none; }
.roll-hint { color: #666; min-height: 16px; margin-top: 2px; }
.roll-audio audio { width: 100%; margin-top: 4px; }
.roll-notation { display: none; margin-top: 6px; }
.roll-downloads a { margin-right: 12px; }
.roll-score { display: block; width: 100%; height: auto; margin-top: 4px; background: #fff; border: 1px solid #ddd;
  border-radius: 4px; }
"""

ROLL_JS = r"""
const NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
const RULER = 18, SVG = 'http://www.w3.org/2000/svg';
let zoom = 1, dragFrom = null, dragTo = null;
const $ = (selector) => element.querySelector(selector);
const scroller = () => $('.roll-scroll');
const pixels = () => props.pixels_per_step * zoom;
const isBlack = (pitch) => [1, 3, 6, 8, 10].includes(pitch % 12);
const noteName = (pitch) => NAMES[pitch % 12] + (Math.floor(pitch / 12) - 1);

function rowHeight(v) { return Math.max(5, Math.min(10, Math.floor(320 / (v.high - v.low + 1)))); }

function shape(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chunkRange(a, b) {  // bars a..b widened to whole 2-bar latents
  const low = Math.min(a, b), high = Math.max(a, b);
  return [2 * Math.floor((low - 1) / 2) + 1, 2 * Math.ceil(high / 2)];
}

function syncAudio(v) {  // one <audio> element, kept across redraws so that playback goes on
  const holder = $('.roll-audio'), url = (v && v.audio_url) || '';
  let audio = holder.querySelector('audio');
  if (!url) { holder.replaceChildren(); return; }
  if (!audio) {
    audio = document.createElement('audio');
    audio.controls = true;
    audio.preload = 'auto';
    holder.append(audio);
  }
  if (audio.getAttribute('src') !== url) audio.setAttribute('src', url);
}

function syncNotation(v) {  // the score image and its downloads, when the value has them
  const holder = $('.roll-notation'), score = $('.roll-score'), links = $('.roll-downloads');
  const url = (v && v.score_url) || '';
  holder.style.display = url ? 'block' : 'none';
  if (!url) { links.replaceChildren(); score.removeAttribute('src'); score.dataset.url = ''; return; }
  if (score.dataset.url !== url) {  // the file route serves it untyped: load it as an SVG image ourselves
    score.dataset.url = url;
    fetch(url).then((answer) => answer.text()).then((text) => {
      if (score.dataset.url !== url) return;  // a newer result came meanwhile
      if (score.src.startsWith('blob:')) URL.revokeObjectURL(score.src);
      score.src = URL.createObjectURL(new Blob([text], {type: 'image/svg+xml'}));
    });
  }
  score.alt = `Score: ${v.title || 'the melody'}`;
  links.replaceChildren('Score: ', ...[['ABC', v.abc_url], ['MusicXML', v.musicxml_url]].map(([label, href]) => {
    const link = document.createElement('a');
    link.textContent = label;
    link.href = href;
    link.download = '';
    return link;
  }));
}

function draw() {
  const v = props.value;
  syncAudio(v);
  syncNotation(v);
  const keys = $('.roll-keys'), grid = $('.roll-grid');
  keys.replaceChildren(); grid.replaceChildren();
  const empty = !v || !v.bars;
  $('.roll-title').textContent = empty ? 'Piano roll: the melody will be drawn here.' : (v.title || '');
  $('.roll-hint').textContent = props.selectable && !empty ? 'Drag across the bar numbers to choose bars to regenerate.' : '';
  $('.roll-body').style.display = $('.roll-zoom').style.display = empty ? 'none' : '';
  if (empty) return;
  const px = pixels(), row = rowHeight(v), barWidth = v.steps_per_bar * px;
  const width = v.bars * barWidth, height = RULER + (v.high - v.low + 1) * row;
  for (const svg of [keys, grid]) svg.setAttribute('height', height);
  grid.setAttribute('width', width);
  const y = (pitch) => RULER + (v.high - pitch) * row;
  for (let pitch = v.low; pitch <= v.high; pitch++) {
    if (isBlack(pitch)) grid.append(shape('rect', {x: 0, y: y(pitch), width, height: row, fill: '#f2f2f2'}));
    else if (row >= 7 || pitch % 12 === 0) {
      keys.append(shape('text', {x: 30, y: y(pitch) + row - 1, 'text-anchor': 'end', 'font-size': Math.min(row + 1, 10),
                                 'font-weight': pitch % 12 === 0 ? 700 : 400}, noteName(pitch)));
    }
  }
  for (const [first, last] of v.shaded) {
    grid.append(shape('rect', {class: 'roll-shaded', x: (first - 1) * barWidth, y: RULER,
                               width: (last - first + 1) * barWidth, height: height - RULER, fill: '#f58518',
                               opacity: 0.13}));
  }
  const selection = dragFrom !== null ? chunkRange(dragFrom, dragTo) : v.selection;
  if (selection) {
    grid.append(shape('rect', {class: 'roll-selection', x: (selection[0] - 1) * barWidth, y: 0,
                               width: (selection[1] - selection[0] + 1) * barWidth, height, fill: '#4c78a8',
                               opacity: 0.15}));
  }
  const every = barWidth >= 22 ? 1 : barWidth >= 11 ? 2 : 4;
  const ruler = shape('g', {class: 'roll-ruler'});
  ruler.append(shape('rect', {x: 0, y: 0, width, height: RULER, fill: '#fafafa'}));
  for (let bar = 0; bar <= v.bars; bar++) {
    const x = bar * barWidth;
    grid.append(shape('line', {x1: x, x2: x, y1: RULER, y2: height, stroke: bar % 2 ? '#e3e3e3' : '#aaa'}));
    if (bar < v.bars && bar % every === 0) ruler.append(shape('text', {x: x + 2, y: 13}, String(bar + 1)));
  }
  grid.append(ruler);
  for (const [first, last, letter] of v.sections || []) {  // the form's sections: a letter and a line at each start
    const x = (first - 1) * barWidth;
    grid.append(shape('line', {class: 'roll-section', x1: x, x2: x, y1: RULER, y2: height, stroke: '#54a24b',
                               'stroke-width': 2, opacity: 0.6}));
    const label = shape('text', {class: 'roll-section-letter', x: x + 4, y: RULER + 13, fill: '#3b7d35',
                                 'font-size': 13, 'font-weight': 700}, letter);
    label.append(shape('title', {}, `section ${letter}: bars ${first} to ${last}`));
    grid.append(label);
  }
  for (const [start, end, pitch] of v.ghost) {
    grid.append(shape('rect', {class: 'roll-ghost', x: start * px, y: y(pitch) + 1,
                               width: Math.max(1, (end - start) * px - 1), height: row - 2, fill: '#999',
                               opacity: 0.35}));
  }
  for (const [start, end, pitch] of v.notes) {
    const note = shape('rect', {class: 'roll-note', x: start * px, y: y(pitch) + 1,
                                width: Math.max(1, (end - start) * px - 1), height: row - 2, rx: 1,
                                fill: '#4c78a8', 'data-pitch': pitch});
    note.append(shape('title', {}, `${noteName(pitch)}, bar ${Math.floor(start / v.steps_per_bar) + 1}`));
    grid.append(note);
  }
}

function barAt(event) {
  const v = props.value, box = $('.roll-grid').getBoundingClientRect();
  const bar = Math.floor((event.clientX - box.left) / (v.steps_per_bar * pixels())) + 1;
  return Math.max(1, Math.min(v.bars, bar));
}

// listeners sit on the root element: the template (and so every inner node) is redrawn on value changes
element.addEventListener('pointerdown', (event) => {
  if (!props.selectable || !props.value || !props.value.bars || !event.target.closest('.roll-grid')) return;
  const onRuler = event.target.closest('.roll-ruler') !== null;
  if (!onRuler && event.pointerType === 'touch') return;  // a finger on the notes scrolls
  dragFrom = dragTo = barAt(event);
  element.setPointerCapture(event.pointerId);
  event.preventDefault();
  draw();
});
element.addEventListener('pointermove', (event) => {
  if (dragFrom === null) return;
  const bar = barAt(event);
  if (bar !== dragTo) { dragTo = bar; draw(); }
});
element.addEventListener('pointerup', () => {
  if (dragFrom === null) return;
  const selection = chunkRange(dragFrom, dragTo);
  dragFrom = dragTo = null;
  props.value = {...props.value, selection, dragged: true};
  trigger('change');
});
element.addEventListener('click', (event) => {
  const button = event.target.closest('.roll-zoom button');
  if (!button) return;
  zoom = Math.max(0.25, Math.min(4, zoom * Number(button.dataset.zoom)));
  draw();
});

function follow() {
  const v = props.value, head = $('.roll-playhead');
  const audio = element.querySelector('.roll-audio audio');
  if (head && v && v.bars && audio && audio.currentTime > 0) {
    const x = audio.currentTime / v.seconds_per_step * pixels();
    head.style.display = 'block';
    head.style.transform = `translateX(${x}px)`;
    head.dataset.x = x.toFixed(1);
    const box = scroller();
    if (!audio.paused && (x < box.scrollLeft || x > box.scrollLeft + box.clientWidth - 30)) {
      box.scrollLeft = Math.max(0, x - 30);
    }
  } else if (head) {
    head.style.display = 'none';
  }
  requestAnimationFrame(follow);
}

function focus() {  // a new value: bring its shaded or selected bars into view, whole where they fit
  const v = props.value;
  const span = v && ((v.shaded && v.shaded[0]) || v.selection);
  if (!span) return;
  const box = scroller(), barWidth = v.steps_per_bar * pixels();
  const x = (span[0] - 1) * barWidth, end = span[1] * barWidth;
  const margin = Math.max(0, Math.min(40, (box.clientWidth - (end - x)) / 2));  // what room is left, up to 40 px
  if (x < box.scrollLeft || end > box.scrollLeft + box.clientWidth) box.scrollLeft = Math.max(0, x - margin);
}

watch('value', () => { draw(); focus(); });
draw();
focus();
requestAnimationFrame(follow);
"""


NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name: 60 -> "C4", 61 -> "C#4"."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _bar_ranges(mask: np.ndarray) -> list[list[int]]:
    """(K,) bool per 2-bar latent -> [[first bar, last bar], ...] of the runs of True, 1-based."""
    ranges: list[list[int]] = []
    for chunk in np.flatnonzero(mask):
        first, last = 2 * int(chunk) + 1, 2 * int(chunk) + 2
        if ranges and ranges[-1][1] == first - 1:
            ranges[-1][1] = last
        else:
            ranges.append([first, last])
    return ranges


def _note_list(melody: np.ndarray, keep: np.ndarray | None = None) -> list[list[int]]:
    """[[start step, end step, MIDI pitch], ...] of (T,) tokens; with `keep` (T,) bool, only the notes
    that start where it is True."""
    starts, ends, pitches = notes_from_melody(melody)
    chosen = np.ones(len(starts), bool) if keep is None else keep[starts]
    return [[int(s), int(e), int(p)] for s, e, p, c in zip(starts, ends, pitches, chosen) if c]


def form_sections(form: Form) -> list[list]:
    """The sections of the form a melody was sampled with, as the roll marks them: [first bar, last
    bar, letter] of every SECTION_LATENTS latents (`core.music.forms.letters`); [] for a free form."""
    if not any(form):
        return []
    bars = SECTION_LATENTS * BARS_PER_CHUNK
    return [[index * bars + 1, min((index + 1) * bars, len(form) * BARS_PER_CHUNK), letter]
            for index, letter in enumerate(letters(form))]


def roll_value(melody: np.ndarray, tempo_bpm: float = 120.0, regenerated: np.ndarray | None = None,
               original: np.ndarray | None = None, title: str = "", sections: Sequence[Sequence] = ()) -> dict:
    """The RollPlayer value of (T,) tokens played at `tempo_bpm`.

    regenerated: (T // 32,) bool, the 2-bar latents to shade; original: (T0,) tokens whose notes
    under the shaded bars are drawn faint (what the regenerated bars replaced); sections: the
    form's letters to mark over the bars (`form_sections`).
    """
    melody = np.asarray(melody)
    bars = -(-melody.size // STEPS_PER_BAR)
    notes = _note_list(melody)
    ghost: list[list[int]] = []
    shaded: list[list[int]] = []
    if regenerated is not None:
        shaded = _bar_ranges(np.asarray(regenerated, bool))
        if original is not None:
            under = np.repeat(np.asarray(regenerated, bool), STEPS_PER_CHUNK)[: len(original)]
            ghost = _note_list(np.asarray(original), np.pad(under, (0, len(original) - len(under))))
    pitches = [pitch for *_, pitch in notes + ghost]
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (58, 74)
    return {"notes": notes, "ghost": ghost, "shaded": shaded, "bars": int(bars), "steps_per_bar": STEPS_PER_BAR,
            "seconds_per_step": 60.0 / tempo_bpm / (STEPS_PER_BAR // 4), "low": int(low), "high": int(high),
            "title": title, "sections": [list(section) for section in sections], "selection": None,
            "dragged": False, "audio_url": None, "score_url": None,
            "abc_url": None, "musicxml_url": None}


def file_url(path: str | Path) -> str:
    """Where the page fetches a file of Gradio's cache folder."""
    return f"gradio_api/file={quote(str(path))}"


def with_audio(value: dict | None, audio_path: str | None) -> dict | None:
    """The value with its player set to `audio_path`, a file of Gradio's cache folder; None stays None."""
    if value is None:
        return None
    return {**value, "audio_url": file_url(audio_path) if audio_path else None, "dragged": False}


def with_notation(value: dict, score_path: Path, abc_path: Path, musicxml_path: Path) -> dict:
    """The value showing the score image `score_path` with links to the ABC and MusicXML files."""
    return {**value, "score_url": file_url(score_path), "abc_url": file_url(abc_path),
            "musicxml_url": file_url(musicxml_path), "dragged": False}


def selected_bars(value: dict | None) -> str | None:
    """The bars the user has just dragged across on the roll, as the Infill tab's text ("17-24"); None
    for any value Python set (its "dragged" is False), so that a redraw never rewrites typed bars."""
    selection = (value or {}).get("selection")
    if not selection or not value.get("dragged"):
        return None
    first, last = (int(bar) for bar in selection)
    return f"{first}-{last}"


def RollPlayer(value: dict | None = None, selectable: bool = False, elem_id: str | None = None) -> gr.HTML:
    """The piano roll component, showing `value` (see `roll_value`); call inside a `gr.Blocks` context."""
    return gr.HTML(value=value, html_template=ROLL_HTML, css_template=ROLL_CSS, js_on_load=ROLL_JS, elem_id=elem_id,
                   selectable=selectable, pixels_per_step=PIXELS_PER_STEP, padding=False)


def scroll_to_roll_js(elem_id: str, cleared: int) -> str:
    """The JS of a click that starts a run: bring the roll `elem_id` into view when it is off the
    screen (on a phone it sits below the controls) and clear `cleared` outputs."""
    return f"""() => {{
  const roll = document.querySelector('#{elem_id}');
  const top = roll ? roll.getBoundingClientRect().top : 0;
  if (roll && (top < 0 || top > window.innerHeight - 120)) roll.scrollIntoView({{behavior: 'smooth', block: 'start'}});
  return {[None] * cleared};
}}""".replace("None", "null")
