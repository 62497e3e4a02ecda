"""A melody as notation: ABC text (the tune sites' format) and MusicXML (score editors').

Both are written from one spelling of the melody (`written_notes`): the key its MIDI file
carries (`core.music.keys.melody_tonic`: the major scale holding most of its notes; a minor tune
gets its relative major's signature), 4/4, the bar numbers of the piano roll. Notes of the
scale take the key's letters; the five others are spelt as a musician expects in that key:
the flat third and seventh (E-flat and B-flat in C) and the sharp tonic, fourth and fifth
(C#, F#, G# in C). A note that crosses a beat or a bar line is split into notatable values
tied together, and every accidental that the key signature or an earlier note of the bar (of
the same letter, in any octave) would not imply is shown, so the text reads the same whether a
reader carries accidentals through the bar in one octave (ABC 2.1, MusicXML), in all of them
(abc2midi) or not at all.

The ABC has the X:, T:, M:, L:, Q: and K: headers abc2midi and the tune sites accept; both
formats start a new line every 4 bars and can label chosen bars "new" (regenerated bars).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from core.music.constants import STEPS_PER_BAR, STEPS_PER_QUARTER
from core.music.keys import KEY_NAMES, melody_tonic
from core.music.melody import notes_from_melody, validate_melody

LETTERS = "CDEFGAB"
NATURAL_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
FLAT_SPELT = (3, 10)  # semitones above the tonic spelt as the next scale note lowered (b3, b7)
# notatable lengths in sixteenths, longest first, with their MusicXML type and dot
NOTE_TYPES = {16: ("whole", False), 12: ("half", True), 8: ("half", False), 6: ("quarter", True),
              4: ("quarter", False), 3: ("eighth", True), 2: ("eighth", False), 1: ("16th", False)}
BARS_PER_LINE = 4
NEW_BAR_LABEL = "new"
ABC_SIGNS = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}
MUSICXML_ACCIDENTALS = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}


@dataclass(frozen=True)
class WrittenNote:
    """One symbol of the score: a note or a rest of a notatable length within one bar."""

    bar: int  # 0-based
    start: int  # sixteenths into the bar
    length: int  # a key of NOTE_TYPES
    letter: str | None = None  # None for a rest
    alteration: int = 0  # semitones (-1 flat, 1 sharp)
    octave: int = 4  # scientific: 4 is the octave from middle C
    shows_accidental: bool = False
    tie_from_previous: bool = False
    tie_to_next: bool = False


def key_spelling(tonic: int) -> dict[int, tuple[str, int]]:
    """Pitch class -> (letter, alteration in semitones) of all 12 pitch classes in the major key
    on `tonic` (0..11, named as `KEY_NAMES`)."""
    first = LETTERS.index(KEY_NAMES[tonic][0])
    spelling = {}
    for degree, step in enumerate(MAJOR_STEPS):
        letter = LETTERS[(first + degree) % 7]
        pitch_class = (tonic + step) % 12
        spelling[pitch_class] = (letter, (pitch_class - NATURAL_PITCH_CLASS[letter] + 6) % 12 - 6)
    for offset in range(12):
        pitch_class = (tonic + offset) % 12
        if pitch_class in spelling:
            continue
        if offset in FLAT_SPELT:
            letter, alteration = spelling[(pitch_class + 1) % 12]
            spelling[pitch_class] = (letter, alteration - 1)
        else:
            letter, alteration = spelling[(pitch_class - 1) % 12]
            spelling[pitch_class] = (letter, alteration + 1)
    return spelling


def key_fifths(tonic: int) -> int:
    """Sharps (> 0) or flats (< 0) of the major key on `tonic` as named in KEY_NAMES (F# +6, Db -5)."""
    return (tonic * 7 + 5) % 12 - 5


def chunk_bars(chunks: np.ndarray) -> frozenset[int]:
    """(K,) bool per 2-bar chunk -> the 1-based bars of the True ones (for `marked_bars`)."""
    return frozenset(bar for chunk in np.flatnonzero(chunks) for bar in (2 * int(chunk) + 1, 2 * int(chunk) + 2))


def _notatable_lengths(start: int, end: int) -> list[int]:
    """Sixteenths start..end within one bar -> notatable lengths; a piece that starts off the beat
    ends at the next beat at the latest, so that the rhythm shows the beats."""
    pieces = []
    while start < end:
        limit = end - start
        if start % STEPS_PER_QUARTER:
            limit = min(limit, STEPS_PER_QUARTER - start % STEPS_PER_QUARTER)
        length = next(value for value in NOTE_TYPES if value <= limit)
        pieces.append(length)
        start += length
    return pieces


def _spans(melody: np.ndarray) -> list[tuple[int, int, int | None]]:
    """(start, end, pitch or None for a rest) covering the whole melody, in order."""
    spans, position = [], 0
    for start, end, pitch in zip(*(values.tolist() for values in notes_from_melody(melody))):
        if start > position:
            spans.append((position, start, None))
        spans.append((start, end, pitch))
        position = end
    if position < melody.size:
        spans.append((position, int(melody.size), None))
    return spans


def written_notes(melody: np.ndarray) -> tuple[int, list[WrittenNote]]:
    """(T,) melody tokens -> (tonic of its key signature, its symbols in order)."""
    melody = validate_melody(melody)
    tonic = melody_tonic(melody)
    spelling = key_spelling(tonic)
    key_alteration = dict(spelling[(tonic + step) % 12] for step in MAJOR_STEPS)  # letter -> its sign in the key
    written: list[WrittenNote] = []
    bar_alteration: dict[str, int] = {}  # letter -> the sign an earlier note of the bar gave it
    for start, end, pitch in _spans(melody):
        position = start
        while position < end:
            bar, in_bar = divmod(position, STEPS_PER_BAR)
            if in_bar == 0:
                bar_alteration = {}
            piece_end = min(end, (bar + 1) * STEPS_PER_BAR)
            lengths = _notatable_lengths(in_bar, piece_end - bar * STEPS_PER_BAR)
            if pitch is None:
                for length in lengths:
                    written.append(WrittenNote(bar, in_bar, length))
                    in_bar += length
            else:
                letter, alteration = spelling[pitch % 12]
                octave = (pitch - alteration - NATURAL_PITCH_CLASS[letter]) // 12 - 1
                implied = bar_alteration.get(letter, key_alteration[letter])
                shows = alteration != implied or alteration != key_alteration[letter]
                bar_alteration[letter] = alteration
                for index, length in enumerate(lengths):
                    written.append(WrittenNote(bar, in_bar, length, letter, alteration, octave,
                                               shows_accidental=shows and index == 0,
                                               tie_from_previous=position > start or index > 0,
                                               tie_to_next=in_bar + length < end - bar * STEPS_PER_BAR))
                    in_bar += length
            position = piece_end
    return tonic, written


def _abc_symbol(note: WrittenNote) -> str:
    length = "" if note.length == 1 else str(note.length)  # L:1/16
    if note.letter is None:
        return f"z{length}"
    sign = ABC_SIGNS[note.alteration] if note.shows_accidental else ""
    name = note.letter.lower() + "'" * (note.octave - 5) if note.octave >= 5 else note.letter + "," * (4 - note.octave)
    return f"{sign}{name}{length}{'-' if note.tie_to_next else ''}"


def abc_text(melody: np.ndarray, title: str = "Melody", tempo_bpm: float = 120.0,
             marked_bars: frozenset[int] = frozenset()) -> str:
    """(T,) melody tokens -> an ABC tune in the melody's key, L:1/16, a line every 4 bars; notes
    within a beat are written together, so that they are beamed.

    marked_bars: 1-based bars labelled "new" above their first symbol (regenerated bars).
    """
    tonic, written = written_notes(melody)
    bars: list[str] = []
    for note in written:
        if note.start == 0:
            bars.append(f'"^{NEW_BAR_LABEL}"' if note.bar + 1 in marked_bars else "")
        elif note.start % STEPS_PER_QUARTER == 0:
            bars[-1] += " "
        bars[-1] += _abc_symbol(note)
    lines = [" | ".join(bars[first : first + BARS_PER_LINE]) for first in range(0, len(bars), BARS_PER_LINE)]
    header = ["X:1", f"T:{' '.join(title.split()) or 'Melody'}", "M:4/4", "L:1/16", f"Q:1/4={round(tempo_bpm)}",
              f"K:{KEY_NAMES[tonic]}"]
    return "\n".join(header + [line + " |" for line in lines[:-1]] + [lines[-1] + " |]"]) + "\n"


def _beams(written: list[WrittenNote]) -> list[str | None]:
    """The MusicXML beam of each symbol: notes shorter than a beat that lie in one beat, next to
    each other (no rest between), are beamed together ("begin", "continue", "end"); None unbeamed."""
    beams: list[str | None] = [None] * len(written)
    group: list[int] = []
    for index, note in enumerate(written + [WrittenNote(-1, 0, 16)]):  # a sentinel ends the last group
        beat = (note.bar, note.start // STEPS_PER_QUARTER)
        fits = note.letter is not None and note.length < STEPS_PER_QUARTER
        if group and (not fits or beat != (written[group[0]].bar, written[group[0]].start // STEPS_PER_QUARTER)):
            if len(group) > 1:
                beams[group[0]], beams[group[-1]] = "begin", "end"
                for middle in group[1:-1]:
                    beams[middle] = "continue"
            group = []
        if fits:
            group.append(index)
    return beams


def _musicxml_note(note: WrittenNote, beam: str | None) -> str:
    kind, dotted = NOTE_TYPES[note.length]
    dot = "<dot/>" if dotted else ""
    if note.letter is None:
        if note.length == STEPS_PER_BAR:
            return f'<note><rest measure="yes"/><duration>{note.length}</duration><voice>1</voice></note>'
        return f"<note><rest/><duration>{note.length}</duration><voice>1</voice><type>{kind}</type>{dot}</note>"
    alter = f"<alter>{note.alteration}</alter>" if note.alteration else ""
    ties = [end for end, on in (("stop", note.tie_from_previous), ("start", note.tie_to_next)) if on]
    tie = "".join(f'<tie type="{end}"/>' for end in ties)
    tied = "<notations>" + "".join(f'<tied type="{end}"/>' for end in ties) + "</notations>" if ties else ""
    accidental = f"<accidental>{MUSICXML_ACCIDENTALS[note.alteration]}</accidental>" if note.shows_accidental else ""
    beamed = f'<beam number="1">{beam}</beam>' if beam else ""
    return (f"<note><pitch><step>{note.letter}</step>{alter}<octave>{note.octave}</octave></pitch>"
            f"<duration>{note.length}</duration>{tie}<voice>1</voice><type>{kind}</type>{dot}{accidental}{beamed}"
            f"{tied}</note>")


def musicxml_text(melody: np.ndarray, title: str = "Melody", tempo_bpm: float = 120.0,
                  marked_bars: frozenset[int] = frozenset()) -> str:
    """(T,) melody tokens -> a MusicXML 4.0 score (one treble-clef part, divisions of a sixteenth),
    a new system every 4 bars, notes within a beat beamed; marked_bars as `abc_text`."""
    tonic, written = written_notes(melody)
    tempo = round(tempo_bpm)
    measures: list[list[str]] = []
    for note, beam in zip(written, _beams(written)):
        if note.start == 0:
            measure = []
            if note.bar == 0:
                measure.append(f"<attributes><divisions>{STEPS_PER_QUARTER}</divisions><key><fifths>"
                               f"{key_fifths(tonic)}</fifths></key><time><beats>4</beats><beat-type>4</beat-type>"
                               "</time><clef><sign>G</sign><line>2</line></clef></attributes>"
                               '<direction placement="above"><direction-type><metronome><beat-unit>quarter'
                               f"</beat-unit><per-minute>{tempo}</per-minute></metronome></direction-type>"
                               f'<sound tempo="{tempo}"/></direction>')
            elif note.bar % BARS_PER_LINE == 0:
                measure.append('<print new-system="yes"/>')
            if note.bar + 1 in marked_bars:
                measure.append('<direction placement="above"><direction-type><words>'
                               f"{NEW_BAR_LABEL}</words></direction-type></direction>")
            measures.append(measure)
        measures[-1].append(_musicxml_note(note, beam))
    body = "".join(f'<measure number="{number}">{"".join(parts)}</measure>'
                   for number, parts in enumerate(measures, start=1))
    name = escape(" ".join(title.split()) or "Melody")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
            '"http://www.musicxml.org/dtds/partwise.dtd">\n'
            f'<score-partwise version="4.0"><work><work-title>{name}</work-title></work>'
            '<part-list><score-part id="P1"><part-name print-object="no">Melody</part-name></score-part></part-list>'
            f'<part id="P1">{body}</part></score-partwise>\n')
