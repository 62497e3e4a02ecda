"""Musicality of monophonic melodies: rhythm density, silence, range, leaps, key, repetition.

`python -m eval_lab.folder_musicality --midi DIR` scores a folder of MIDI files with them.

Each metric is judged per melody, then `musicality` averages it over a set. A melody is a
(T,) integer token array, one token per sixteenth step, T a whole positive number of 2-bar
chunks (32 steps); leading and trailing silence count as they are. Notes are read with
`core.music.melody.notes_from_melody`: a note lasts from its onset to the next non-hold token.

Decisions on edge cases:
- a "bar without an onset" may still sound: a note held across it does not make it count.
- a metric with nothing to measure is NaN for that melody: `pitch_range` and
  `in_scale_share` without notes, `leap_share` with fewer than two notes, the two pattern
  shares with fewer than two chunks holding an onset. `musicality` averages each metric
  over the melodies where it is defined (NaN when it is defined for none of them).
- patterns: a 2-bar chunk's pattern is the tuple of (onset step within the chunk, pitch) of
  the notes starting in it; a note held on into the next chunk is not part of that chunk's
  pattern. Chunks without onsets are neither counted nor matched, so the first chunk with
  onsets is the one that cannot repeat anything. The transposed share allows a shift of
  0 semitones too, so it is never below the exact share.
- in-scale share counts notes, not their durations; rotations of the major scale cover the
  natural minor modes as well.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import NamedTuple, Sequence

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, STEPS_PER_BAR, STEPS_PER_CHUNK
from core.music.melody import notes_from_melody, validate_melody

LEAP_SEMITONES = 7  # an interval is a leap when |interval| exceeds a perfect fifth
MAJOR_SCALE_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)


@dataclass(frozen=True)
class MusicalityScores:
    """The eight metrics of one melody (or their averages over a set); NaN where undefined."""

    notes_per_bar: float
    silent_bar_share: float
    longest_silence_bars: float
    pitch_range: float
    leap_share: float
    in_scale_share: float
    repeated_pattern_share: float
    transposed_pattern_share: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


METRIC_NAMES: tuple[str, ...] = tuple(field.name for field in fields(MusicalityScores))

METRIC_LABELS: dict[str, str] = {
    "notes_per_bar": "notes per bar",
    "silent_bar_share": "bars without an onset",
    "longest_silence_bars": "longest silence (bars)",
    "pitch_range": "pitch range (semitones)",
    "leap_share": f"intervals > {LEAP_SEMITONES} semitones",
    "in_scale_share": "notes in the best diatonic scale",
    "repeated_pattern_share": "2-bar patterns repeated exactly",
    "transposed_pattern_share": "2-bar patterns repeated (transposed)",
}


class _Notes(NamedTuple):
    """A checked melody's length and notes: starts, ends, pitches each (N,) int64."""

    steps: int
    starts: np.ndarray
    ends: np.ndarray
    pitches: np.ndarray


def _read_notes(melody: np.ndarray, name: str = "melody") -> _Notes:
    """Check that `melody` is a (T,) integer token array, T a positive multiple of 32."""
    array = np.asarray(melody)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D token array, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer tokens, got dtype {array.dtype}")
    if array.size == 0 or array.size % STEPS_PER_CHUNK:
        raise ValueError(
            f"{name} length must be a positive multiple of {STEPS_PER_CHUNK} steps "
            f"(whole 2-bar chunks), got {array.size}"
        )
    try:
        tokens = validate_melody(array)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    starts, ends, pitches = notes_from_melody(tokens)
    return _Notes(int(tokens.size), starts, ends, pitches)


def _notes_per_bar(notes: _Notes) -> float:
    return notes.starts.size / (notes.steps / STEPS_PER_BAR)


def _silent_bar_share(notes: _Notes) -> float:
    bars = notes.steps // STEPS_PER_BAR
    with_onset = np.unique(notes.starts // STEPS_PER_BAR).size
    return (bars - with_onset) / bars


def _longest_silence_bars(notes: _Notes) -> float:
    if notes.starts.size == 0:
        return notes.steps / STEPS_PER_BAR
    # Notes of a melody never overlap: the silences are the gaps between them and the edges.
    gaps = np.concatenate([[notes.starts[0]], notes.starts[1:] - notes.ends[:-1], [notes.steps - notes.ends[-1]]])
    return float(gaps.max()) / STEPS_PER_BAR


def _pitch_range(notes: _Notes) -> float:
    if notes.pitches.size == 0:
        return float("nan")
    return float(notes.pitches.max() - notes.pitches.min())


def _leap_share(notes: _Notes) -> float:
    if notes.pitches.size < 2:
        return float("nan")
    return float((np.abs(np.diff(notes.pitches)) > LEAP_SEMITONES).mean())


def _major_scales() -> np.ndarray:
    scale = np.zeros(12, dtype=bool)
    scale[list(MAJOR_SCALE_PITCH_CLASSES)] = True
    return np.stack([np.roll(scale, tonic) for tonic in range(12)])  # (12 tonics, 12 classes)


MAJOR_SCALES = _major_scales()  # (12, 12) bool: row t holds the pitch classes of the major scale on tonic t


def notes_in_each_scale(pitches: np.ndarray) -> np.ndarray:
    """(N,) MIDI pitches -> (12,) how many of them lie in the major scale on each tonic (MAJOR_SCALES'
    rows; a minor or modal melody counts in its relative major)."""
    return MAJOR_SCALES @ np.bincount(np.asarray(pitches) % 12, minlength=12)


def _in_scale_share(notes: _Notes) -> float:
    if notes.pitches.size == 0:
        return float("nan")
    return float(notes_in_each_scale(notes.pitches).max() / notes.pitches.size)


def _pattern_share(notes: _Notes, transposed: bool) -> float:
    """Share of chunks with onsets, after the first, whose pattern an earlier one has."""
    chunk_of = notes.starts // STEPS_PER_CHUNK
    seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    repeats = counted = 0
    for chunk in np.unique(chunk_of):
        inside = chunk_of == chunk
        steps = notes.starts[inside] - chunk * STEPS_PER_CHUNK
        pitches = notes.pitches[inside]
        if transposed:
            pitches = pitches - pitches[0]
        pattern = (tuple(steps.tolist()), tuple(pitches.tolist()))
        if seen:
            counted += 1
            repeats += pattern in seen
        seen.add(pattern)
    return repeats / counted if counted else float("nan")


def notes_per_bar(melody: np.ndarray) -> float:
    """Note onsets per 4/4 bar. melody: (T,) tokens."""
    return _notes_per_bar(_read_notes(melody))


def silent_bar_share(melody: np.ndarray) -> float:
    """Share of bars in which no note starts (a note held through a bar does not count)."""
    return _silent_bar_share(_read_notes(melody))


def longest_silence_bars(melody: np.ndarray) -> float:
    """Longest stretch without a sounding note, in bars (steps / 16), from a note's end to
    the next note's start, leading and trailing silence included; T / 16 without notes."""
    return _longest_silence_bars(_read_notes(melody))


def pitch_range(melody: np.ndarray) -> float:
    """Highest minus lowest pitch in semitones; 0 for a single pitch, NaN without notes."""
    return _pitch_range(_read_notes(melody))


def leap_share(melody: np.ndarray) -> float:
    """Share of intervals between consecutive notes (rests between them ignored) larger
    than 7 semitones either way; NaN with fewer than two notes."""
    return _leap_share(_read_notes(melody))


def in_scale_share(melody: np.ndarray) -> float:
    """Share of notes whose pitch class lies in the best-fitting of the 12 major scales
    (equivalently their relative natural minors); NaN without notes."""
    return _in_scale_share(_read_notes(melody))


def repeated_pattern_share(melody: np.ndarray) -> float:
    """Share of 2-bar chunks with onsets, after the first such chunk, whose onset pattern
    (step within the chunk, pitch) equals that of an earlier chunk exactly; chunks without
    onsets are skipped; NaN with fewer than two chunks holding onsets."""
    return _pattern_share(_read_notes(melody), transposed=False)


def transposed_pattern_share(melody: np.ndarray) -> float:
    """As `repeated_pattern_share`, but a chunk also repeats an earlier one when the onset
    steps agree and all pitches differ from it by one constant (0 included)."""
    return _pattern_share(_read_notes(melody), transposed=True)


def melody_scores(melody: np.ndarray, name: str = "melody") -> MusicalityScores:
    """All eight metrics of one (T,) melody, reading its notes once.

    name: how error messages call the argument.
    """
    notes = _read_notes(melody, name)
    return MusicalityScores(
        notes_per_bar=_notes_per_bar(notes),
        silent_bar_share=_silent_bar_share(notes),
        longest_silence_bars=_longest_silence_bars(notes),
        pitch_range=_pitch_range(notes),
        leap_share=_leap_share(notes),
        in_scale_share=_in_scale_share(notes),
        repeated_pattern_share=_pattern_share(notes, transposed=False),
        transposed_pattern_share=_pattern_share(notes, transposed=True),
    )


def defined_means(rows: Sequence[dict[str, float]], names: Sequence[str]) -> dict[str, float]:
    """Mean of each of `names` over the rows (one per melody) where it is defined; NaN where none
    defines it."""
    table = np.array([[row[name] for name in names] for row in rows], dtype=np.float64).reshape(-1, len(names))
    defined = ~np.isnan(table)  # (M, F)
    totals = np.where(defined, table, 0.0).sum(axis=0)
    counts = defined.sum(axis=0)
    means = np.divide(totals, counts, out=np.full(len(names), np.nan), where=counts > 0)
    return {name: float(value) for name, value in zip(names, means)}


def average_scores(scores: Sequence[MusicalityScores]) -> dict[str, float]:
    """Mean of each metric over the melodies where it is defined; NaN where none defines it."""
    if len(scores) == 0:
        raise ValueError("scores must hold at least one melody's scores")
    return defined_means([score.as_dict() for score in scores], METRIC_NAMES)


def musicality(melodies: Sequence[np.ndarray]) -> dict[str, float]:
    """Each metric averaged over `melodies` (each (T,) tokens), skipping melodies where it is
    undefined. Keys: `METRIC_NAMES`."""
    if len(melodies) == 0:
        raise ValueError("melodies must hold at least one melody")
    return average_scores([melody_scores(m, f"melodies[{i}]") for i, m in enumerate(melodies)])


# -- interval profile -----------------------------------------------------------------------

INTERVAL_CLASSES = {  # name -> inclusive range of |interval| in semitones
    "repeated_share": (0, 0),
    "step_share": (1, 2),
    "skip_share": (3, 4),
    "larger_share": (5, LEAP_SEMITONES),
    "leap_share": (LEAP_SEMITONES + 1, 127),
}
INTERVAL_PROFILE_NAMES: tuple[str, ...] = (*INTERVAL_CLASSES, "run_note_share")
RUN_NOTES = 3  # a run: this many or more consecutive notes on one pitch


def interval_profile(melody: np.ndarray) -> dict[str, float]:
    """How a (T,) melody moves from note to note: the share of its melodic intervals that are
    repeated notes (0 semitones), steps (1-2), skips (3-4), larger ones (5-7) and leaps (> 7),
    and the share of its notes that lie in runs of RUN_NOTES or more notes on one pitch.
    All NaN with fewer than two notes. Keys: `INTERVAL_PROFILE_NAMES`."""
    pitches = _read_notes(melody).pitches
    if pitches.size < 2:
        return dict.fromkeys(INTERVAL_PROFILE_NAMES, float("nan"))
    sizes = np.abs(np.diff(pitches))  # (N - 1,)
    profile = {name: float(((sizes >= low) & (sizes <= high)).mean()) for name, (low, high) in INTERVAL_CLASSES.items()}
    run_starts = np.flatnonzero(np.concatenate([[True], sizes != 0]))  # first note of each same-pitch run
    run_lengths = np.diff(np.append(run_starts, pitches.size))
    profile["run_note_share"] = float(run_lengths[run_lengths >= RUN_NOTES].sum() / pitches.size)
    return profile


def average_interval_profile(melodies: Sequence[np.ndarray]) -> dict[str, float]:
    """`interval_profile` of each melody, averaged over those with two notes or more (NaN if none)."""
    if len(melodies) == 0:
        raise ValueError("melodies must hold at least one melody")
    return defined_means([interval_profile(melody) for melody in melodies], INTERVAL_PROFILE_NAMES)


# -- cadences ---------------------------------------------------------------------------------

# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PHRASE_BARS = 4  # a phrase ends every this many bars, counted back from the last bar with a note
CADENCE_NAMES = ("last_note_tonic", "phrase_end_tonic_share", "mid_phrase_tonic_share")


def tonic_of(notes: _Notes) -> int:
    """Pitch class of the tonic of the best-correlating of the 24 Krumhansl-Kessler keys, from the
    notes' duration-weighted pitch-class histogram."""
    weights = np.bincount(notes.pitches % 12, weights=notes.ends - notes.starts, minlength=12)  # (12,)
    profiles = [np.roll(profile, tonic) for profile in (KK_MAJOR, KK_MINOR) for tonic in range(12)]  # 24 x (12,)
    scores = [np.corrcoef(weights, profile)[0, 1] if weights.std() > 0 else 0.0 for profile in profiles]
    return int(np.argmax(scores)) % 12


def cadence_profile(melody: np.ndarray) -> dict[str, float]:
    """Where a (T,) melody comes to rest on its tonic (key: `tonic_of`): whether its last note is
    the tonic (1 or 0), and the share of phrase-ending bars and of the other bars whose longest note
    (the last of equally long ones) is the tonic (bars without an onset left out; NaN where no bar
    counts). All NaN without notes. Keys: `CADENCE_NAMES`.

    Phrase ends are counted back from the melody's last bar with a note, every PHRASE_BARS bars
    (that bar itself is one), down to the PHRASE_BARS-th bar from its first note: a tune with a
    pickup bar, or with silent bars after its close, ends its phrases where its close puts them,
    not every 4th bar from the file's start. A 32-bar melody with notes in its first and last bar
    has them in bars 4, 8, ..., 32."""
    notes = _read_notes(melody)
    if notes.pitches.size == 0:
        return dict.fromkeys(CADENCE_NAMES, float("nan"))
    tonic = tonic_of(notes)
    on_tonic = notes.pitches % 12 == tonic  # (N,)
    bar_of = notes.starts // STEPS_PER_BAR
    first_bar, last_bar = bar_of.min(), bar_of.max()
    ends, mids = [], []
    for bar in np.unique(bar_of):
        inside = np.flatnonzero(bar_of == bar)
        lengths = notes.ends[inside] - notes.starts[inside]
        longest = inside[len(inside) - 1 - np.argmax(lengths[::-1])]  # the last of the longest
        phrase_end = (last_bar - bar) % PHRASE_BARS == 0 and bar - first_bar >= PHRASE_BARS - 1
        (ends if phrase_end else mids).append(bool(on_tonic[longest]))
    share = lambda flags: float(np.mean(flags)) if flags else float("nan")  # noqa: E731
    return {"last_note_tonic": float(on_tonic[-1]), "phrase_end_tonic_share": share(ends),
            "mid_phrase_tonic_share": share(mids)}


def average_cadence_profile(melodies: Sequence[np.ndarray]) -> dict[str, float]:
    """`cadence_profile` of each melody, each figure averaged over the melodies that define it."""
    if len(melodies) == 0:
        raise ValueError("melodies must hold at least one melody")
    return defined_means([cadence_profile(melody) for melody in melodies], CADENCE_NAMES)


# -- form -------------------------------------------------------------------------------------

CONTOUR_LAGS_BARS = (4, 8)  # how far apart the bars whose pitch contours are compared lie
REPEAT_LAGS_CHUNKS = (1, 2, 4, 8)  # 2, 4, 8 and 16 bars back
MAX_CELL_TIMES, MAX_CELL_RUN = 3, 2  # a 2-bar cell heard more often than this, or this often in a row, is overused
FORM_NAMES = (*(f"contour_similarity_{lag}" for lag in CONTOUR_LAGS_BARS),
              *(f"repeat_lag_{2 * lag}" for lag in REPEAT_LAGS_CHUNKS), "overused_cell")


def bar_contours(melody: np.ndarray) -> np.ndarray:
    """(T,) melody -> (T // 16, 16) the pitch contour of each bar: the sounding pitch at every step,
    held through rests (the last pitch before it; the first pitch before the first note), each
    bar's mean removed; rows of bars without an onset are NaN."""
    notes = _read_notes(melody)
    pitch_at = np.full(notes.steps, np.nan)
    for start, pitch in zip(notes.starts, notes.pitches):
        pitch_at[start:] = pitch  # later notes overwrite from their start on
    if notes.pitches.size:
        pitch_at[: notes.starts[0]] = notes.pitches[0]
    contours = pitch_at.reshape(-1, STEPS_PER_BAR)
    onsets = np.zeros(notes.steps // STEPS_PER_BAR, dtype=bool)
    onsets[np.unique(notes.starts // STEPS_PER_BAR)] = True
    contours[~onsets] = np.nan
    return contours - np.nan_to_num(contours).mean(axis=1, keepdims=True)  # NaN rows stay NaN


def contour_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two (16,) bar contours (`bar_contours`): NaN if either bar starts no note,
    0 if either is flat."""
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms > 0 else 0.0


def form_profile(melody: np.ndarray) -> dict[str, float]:
    """How a (T,) melody restates itself. contour_similarity_L: the mean `contour_similarity` of
    bars L apart, over pairs where both bars start a note. repeat_lag_B: the share of 2-bar chunks
    with a note that repeat, note for note, the chunk B bars before them. overused_cell: 1 when a
    2-bar chunk with a note comes more than MAX_CELL_TIMES times or more than MAX_CELL_RUN times in a
    row (a tune that sounds like a loop), else 0. NaN where no pair or chunk counts."""
    contours = bar_contours(melody)
    profile = {}
    for lag in CONTOUR_LAGS_BARS:
        values = [contour_similarity(contours[bar], contours[bar + lag]) for bar in range(len(contours) - lag)]
        profile[f"contour_similarity_{lag}"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    chunks = validate_melody(np.asarray(melody)).reshape(-1, STEPS_PER_CHUNK)
    sounding = (chunks >= FIRST_NOTE_TOKEN).any(axis=1)
    for lag in REPEAT_LAGS_CHUNKS:
        counted = [index for index in range(lag, len(chunks)) if sounding[index]]
        repeats = [np.array_equal(chunks[index], chunks[index - lag]) for index in counted]
        profile[f"repeat_lag_{2 * lag}"] = float(np.mean(repeats)) if counted else float("nan")
    cells = [chunk.tobytes() if heard else None for chunk, heard in zip(chunks, sounding)]
    times = max((cells.count(cell) for cell in cells if cell is not None), default=0)
    run = longest = 0
    for index, cell in enumerate(cells):
        run = run + 1 if cell is not None and index and cell == cells[index - 1] else int(cell is not None)
        longest = max(longest, run)
    profile["overused_cell"] = float(times > MAX_CELL_TIMES or longest > MAX_CELL_RUN) if times else float("nan")
    return profile


def average_form_profile(melodies: Sequence[np.ndarray]) -> dict[str, float]:
    """`form_profile` of each melody, each figure averaged over the melodies that define it."""
    if len(melodies) == 0:
        raise ValueError("melodies must hold at least one melody")
    return defined_means([form_profile(melody) for melody in melodies], FORM_NAMES)


def average_profiles(melodies: Sequence[np.ndarray]) -> dict[str, float]:
    """The interval profile, cadences and form of the melodies, each figure averaged over the
    melodies that define it (`average_interval_profile`, `average_cadence_profile`,
    `average_form_profile`)."""
    return {**average_interval_profile(melodies), **average_cadence_profile(melodies),
            **average_form_profile(melodies)}


# -- infilling seams ---------------------------------------------------------------------------

SEAM_PERCENTILE = 90  # a seam joins well when its interval is no larger than this percentile of the kept ones
SEAM_NAMES = ("seams_within_kept_motion", "new_notes_in_kept_scale")


def seam_profile(melody: np.ndarray, regenerated: np.ndarray) -> dict[str, float]:
    """How an infilled (T,) melody joins its regenerated (T // 32,) bool chunks to the kept ones.

    seams_within_kept_motion: the share of seams (a kept and a regenerated chunk side by side,
    either way round) whose interval (from the last note starting before the boundary to the first
    starting after it) is no larger than the SEAM_PERCENTILE-th percentile of the |intervals|
    between the kept chunks' own consecutive notes; new_notes_in_kept_scale: the share of notes
    starting in regenerated chunks whose pitch class lies in the major scale that holds the most
    kept notes. NaN where nothing counts (no seam with notes on both sides, no new notes)."""
    notes = _read_notes(melody)
    regenerated = np.asarray(regenerated, dtype=bool)
    if regenerated.size * STEPS_PER_CHUNK != notes.steps:
        raise ValueError(f"regenerated must hold one flag per 2-bar chunk ({notes.steps // STEPS_PER_CHUNK}), "
                         f"got {regenerated.size}")
    chunk_of = notes.starts // STEPS_PER_CHUNK
    new = regenerated[chunk_of]  # (N,) notes starting in regenerated chunks
    kept_intervals = [abs(int(b) - int(a)) for a, b, ka, kb in zip(notes.pitches, notes.pitches[1:], ~new, ~new[1:])
                      if ka and kb]
    seams = [abs(int(notes.pitches[index + 1]) - int(notes.pitches[index]))
             for index in range(notes.pitches.size - 1) if new[index] != new[index + 1]]
    within = float("nan")
    if seams and kept_intervals:
        within = float(np.mean(np.array(seams) <= np.percentile(kept_intervals, SEAM_PERCENTILE)))
    in_scale = float("nan")
    if new.any() and (~new).any():
        scale = MAJOR_SCALES[int(np.argmax(notes_in_each_scale(notes.pitches[~new])))]
        in_scale = float(scale[notes.pitches[new] % 12].mean())
    return {"seams_within_kept_motion": within, "new_notes_in_kept_scale": in_scale}


def average_seam_profile(melodies: Sequence[np.ndarray], regenerated: np.ndarray) -> dict[str, float]:
    """`seam_profile` of melodies infilled alike, each figure averaged over the melodies that define it."""
    if len(melodies) == 0:
        raise ValueError("melodies must hold at least one melody")
    return defined_means([seam_profile(melody, regenerated) for melody in melodies], SEAM_NAMES)
