"""Forms: a tune's phrase plan at 2-bar resolution, which latents restate or echo which earlier ones.

A form is one lag per latent: 0 for a free latent, L > 0 for a latent that restates the one L
places before it, -L for one that echoes it (a varied restatement: the same melodic shape, not
the same notes). Sampling honours a form by tying: every latent of a restatement chain shares
one variable through the whole denoising (`core.diffusion.samplers.sample_tied`), so the phrase is drawn
to fit every place it stands, not copied afterwards; an echo is drawn from the noise of the latent it
echoes but denoised in its own place, so it comes out a variation of it.

Forms come from the training tunes (`corpus_forms`: which 2-bar chunks of each tune repeat an
earlier chunk note for note, and which follow the pitch contour of the chunk 4 or 8 bars before
them, in its first MAX_FORM_LATENTS latents) or are named (AABB, AABA, ABAC: 8-bar sections of 4
latents, exact restatements only). Real folk tunes restate whole sections: in the corpus the
commonest plan is `. . . . . 4 4 4 . . . . 4 4 4 4`, a section's last three latents restated
4 back while its first one (the turn-around into the repeat) is new; named forms do the same.

    >>> named_form("AABB", 16)
    (0, 0, 0, 0, 0, 4, 4, 4, 0, 0, 0, 0, 0, 4, 4, 4)
    >>> representatives((0, 0, 0, 0, 0, 4, 4, 4, 0, 4))  # latent 9 restates 5, which restates 1
    (0, 1, 2, 3, 4, 1, 2, 3, 8, 1)
    >>> noise_sources((0, 0, -2, 0, 0, 4, -4))  # 2 echoes 0; 6 echoes 2, so it shares 0's noise too
    (0, 1, 0, 3, 4, 1, 0)
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Sequence

import numpy as np

from core.limits import check_choice
from core.music.constants import BARS_PER_CHUNK, FIRST_NOTE_TOKEN
from core.music.musicality import bar_contours, contour_similarity

SECTION_LATENTS = 4  # 8 bars: a named form's letters are sections of this many latents
MAX_FORM_LATENTS = 32  # corpus forms are read from a tune's first 64 bars
STYLE_FORM = "like the style's tunes"  # the default: a form drawn from the style's real tunes
FREE_FORM = "free"  # nothing tied
NAMED_FORMS = ("AABB", "AABA", "ABAC")
FORM_CHOICES = (STYLE_FORM, *NAMED_FORMS, FREE_FORM)
FORMS_FILE = "forms.json"  # in a model bundle: {style: [lags of one training tune, ...]}
ECHO_LAGS = (2, 4)  # latents (4 and 8 bars) back: where a chunk may echo an earlier one, the phrase grid
ECHO_MIN_CONTOUR = 0.5  # a chunk echoes one whose bars' pitch contours correlate with its own this well on average

Form = tuple[int, ...]  # one lag per latent


def check_form_name(name: object) -> str:
    return check_choice("Form", name, FORM_CHOICES)


def named_form(name: str, length: int) -> Form:
    """The lags of a named form over `length` latents: its letters name sections of SECTION_LATENTS
    latents, repeating with fresh letters past the fourth section. A section that restates an
    earlier one keeps its first latent free (the turn-around) and ties the rest."""
    if name == FREE_FORM:
        return (0,) * length
    if name not in NAMED_FORMS:
        raise ValueError(f"no named form {name!r}; choose one of: {', '.join((*NAMED_FORMS, FREE_FORM))}")
    lags = [0] * length
    for section in range(-(-length // SECTION_LATENTS)):
        letter = section % len(name)
        earlier = name.find(name[letter])  # the first section with this letter in the form
        if earlier == letter:
            continue
        lag = (letter - earlier) * SECTION_LATENTS
        for offset in range(1, SECTION_LATENTS):
            index = section * SECTION_LATENTS + offset
            if index < length:
                lags[index] = lag
    return tuple(lags)


def form_of_chunks(chunks: np.ndarray) -> Form:
    """(K, 32) token chunks -> their form: each chunk that starts a note and equals an earlier chunk
    note for note restates the nearest such one (lag > 0); any other chunk echoes the chunk ECHO_LAGS
    back whose bars' pitch contours its own follow best, when the mean `contour_similarity` of their
    two pairs of bars reaches ECHO_MIN_CONTOUR (lag < 0; every bar of both must start a note)."""
    bars = bar_contours(chunks.reshape(-1)).reshape(len(chunks), BARS_PER_CHUNK, -1)  # (K, 2, 16), NaN: no onset
    lags = []
    for index, chunk in enumerate(chunks):
        earlier = [back for back in range(index - 1, -1, -1)
                   if (chunk >= FIRST_NOTE_TOKEN).any() and np.array_equal(chunks[back], chunk)]
        if earlier:
            lags.append(index - earlier[0])
            continue
        shapes = {lag: np.mean([contour_similarity(a, b) for a, b in zip(bars[index], bars[index - lag])])
                  for lag in ECHO_LAGS if lag <= index}
        shapes = {lag: shape for lag, shape in shapes.items() if shape >= ECHO_MIN_CONTOUR}  # NaN never is
        lags.append(-max(shapes, key=shapes.get) if shapes else 0)
    return tuple(lags)


def _chain_starts(form: Form, through_echoes: bool) -> tuple[int, ...]:
    """Each latent followed back through its restatements (and, `through_echoes`, its echoes) to
    the latent that starts the chain: itself where it neither restates nor (so followed) echoes."""
    starts: list[int] = []
    for index, lag in enumerate(form):
        if not abs(lag) <= index:
            raise ValueError(f"latent {index} cannot restate or echo one {abs(lag)} places back")
        back = abs(lag) if through_echoes else max(lag, 0)
        starts.append(starts[index - back] if back else index)
    return tuple(starts)


def representatives(form: Form) -> tuple[int, ...]:
    """The first latent of each latent's restatement chain (itself for a free or echoing latent)."""
    return _chain_starts(form, through_echoes=False)


def noise_sources(form: Form) -> tuple[int, ...]:
    """The latent whose sampling noise each latent is drawn with: the latent it restates or echoes,
    followed back to a free one (itself for a free latent)."""
    return _chain_starts(form, through_echoes=True)


def letters(form: Form) -> tuple[str, ...]:
    """Section letters of a form for showing it: a section whose tied latents restate an earlier
    section gets that section's letter (A A B B); one where at least half the latents echo earlier
    sections, restating none, gets the letter of the section most of them echo, primed (A A′);
    other sections get new letters."""
    sections, names = -(-len(form) // SECTION_LATENTS), []
    for section in range(sections):
        first = section * SECTION_LATENTS
        sources = [((first + offset - abs(lag)) // SECTION_LATENTS, lag > 0)
                   for offset, lag in enumerate(form[first : first + SECTION_LATENTS]) if lag]
        restated = [source for source, tied in sources if tied and source < section]
        echoed = [source for source, tied in sources if not tied and source < section]
        if restated:
            names.append(names[min(restated)])
        elif 2 * len(echoed) >= SECTION_LATENTS:
            names.append(names[max(set(echoed), key=lambda source: (echoed.count(source), -source))].rstrip("′") + "′")
        else:
            names.append(chr(ord("A") + len({name.rstrip("′") for name in names})))
    return tuple(names)


def corpus_forms(tracks_by_style: dict[str, Sequence[np.ndarray]], min_latents: int = 2 * SECTION_LATENTS
                 ) -> dict[str, list[list[int]]]:
    """Per style, the form of each tune's first MAX_FORM_LATENTS latents, for tunes of at least
    `min_latents`. tracks_by_style: style -> (K_i, 32) token chunks of each training tune."""
    return {style: [list(form_of_chunks(chunks[:MAX_FORM_LATENTS])) for chunks in tracks if len(chunks) >= min_latents]
            for style, tracks in tracks_by_style.items()}


def write_forms(directory: str | Path, forms: dict[str, list[list[int]]]) -> Path:
    path = Path(directory) / FORMS_FILE
    path.write_text(json.dumps(forms, separators=(",", ":")) + "\n")
    return path


def read_forms(directory: str | Path) -> dict[str, list[list[int]]]:
    """A bundle's corpus forms; {} for a bundle without them (then a style's form is free)."""
    path = Path(directory) / FORMS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def draw_form(name: str, length: int, style: str | None, corpus: dict[str, list[list[int]]], seed: int) -> Form:
    """The form one melody of `length` latents is sampled with: a named one, or for STYLE_FORM the
    first `length` latents of the form of a training tune of the style at least that long, drawn
    with `seed` (a stream of its own: the sampler's noise is the same for every form); free where
    the style has no such tune (or `style` is None: no style asked for)."""
    if name != STYLE_FORM:
        return named_form(name, length)
    tunes = [form for form in corpus.get(style or "", []) if len(form) >= length]
    if not tunes:
        return named_form(FREE_FORM, length)
    return tuple(tunes[random.Random(f"form-{seed}").randrange(len(tunes))][:length])
