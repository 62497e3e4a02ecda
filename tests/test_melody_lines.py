"""Specification of the melody line ranking (core.music.melody_lines): the tune first, not the first track."""

import re

import numpy as np

from core.music.melody import melody_from_notes
from core.music.melody_lines import rank_lines, tune_score, tune_scores
from core.music.midi_io import ExtractedMelody, extract_melodies, load_midi_bytes
from core.music.upload_reader import read_melody_lines
from tests.midi_factory import instrument, midi_bytes, note

BARS = 8


def line(name: str = "", program: int = 0, pitches=(67, 69, 71, 72), chords: float = 0.0, bars: int = BARS,
         index: int = 0) -> ExtractedMelody:
    """A line of quarter notes cycling through `pitches` over `bars` bars."""
    count = 4 * bars
    melody = melody_from_notes(np.arange(count) * 4, np.arange(count) * 4 + 3, np.resize(np.array(pitches), count))
    return ExtractedMelody(index, program, name, melody, chord_share=chords)


def band_file() -> bytes:
    """A General MIDI band file as the issue found them: fretless bass first, piano chords, then the flute tune."""
    bass = instrument([note(16 * bar, 16 * bar + 8, 28 + bar % 5) for bar in range(BARS)], program=35,
                      name="Fretless Bass")
    chords = instrument([note(16 * bar, 16 * bar + 16, pitch) for bar in range(BARS) for pitch in (60, 64, 67)],
                        program=0, name="Piano")
    tune = instrument([note(4 * beat, 4 * beat + 3, 72 + [0, 2, 4, 5, 7][beat % 5]) for beat in range(4 * BARS)],
                      program=73, name="Flute")
    return midi_bytes([bass, chords, tune])


def test_a_band_files_flute_tune_comes_before_its_chords_and_its_bass():
    lines = rank_lines(extract_melodies(load_midi_bytes(band_file())))
    assert [found.name for found in lines] == ["Flute", "Piano", "Fretless Bass"]
    assert [found.instrument_index for found in lines] == [2, 1, 0], "each line remembers its track"


def test_uploads_are_numbered_likeliest_tune_first(tmp_path):
    (tmp_path / "band.mid").write_bytes(band_file())
    assert read_melody_lines(tmp_path / "band.mid")[0].name == "Flute"


def test_each_sign_of_a_tune_raises_its_score():
    plain = tune_score(line(), BARS)
    assert tune_score(line(name="Lead vocal"), BARS) > plain > tune_score(line(name="Rhythm guitar"), BARS)
    assert tune_score(line(program=73), BARS) > plain > tune_score(line(program=89), BARS) > \
        tune_score(line(program=33), BARS), "flute > piano > pad > bass"
    assert plain > tune_score(line(pitches=(52, 53)), BARS) > tune_score(line(pitches=(36, 40)), BARS), "register"
    assert plain > tune_score(line(chords=0.8), BARS), "chords: an accompaniment"
    assert plain > tune_score(line(bars=2), BARS), "plays in a quarter of the file only"
    assert tune_score(line(name="Ambassador"), BARS) == plain, "a word counts only where a word of the name starts"
    assert tune_score(line(name="Sub-bass"), BARS) < plain


def test_equal_lines_keep_their_file_order():
    lines = [line(index=index) for index in range(3)]
    assert [found.instrument_index for found in rank_lines(lines)] == [0, 1, 2]
    assert rank_lines([]) == []


def test_a_quartets_first_violin_leads_though_the_second_plays_in_more_bars():
    first = line(name="Violin I", program=40, pitches=(76, 74, 72, 71), bars=6, index=0)
    second = line(name="Violin II", program=40, pitches=(67, 69, 67, 65), index=1)
    viola = line(name="Viola", program=41, pitches=(60, 62, 60, 59), index=2)
    assert tune_score(second, BARS) > tune_score(first, BARS), "alone, the second violin's bars count more"
    assert [found.name for found in rank_lines([second, viola, first])] == ["Violin I", "Violin II", "Viola"]
    assert tune_scores([first, second])[0] == tune_score(first, BARS) + 1.0, "the highest line's bonus"


def test_the_line_choice_report_lists_each_files_lines_default_first_and_counts_low_defaults(tmp_path, capsys):
    from eval_lab.line_choice import main

    (tmp_path / "band.mid").write_bytes(band_file())
    main(["--midi", str(tmp_path)])
    report = capsys.readouterr().out
    listed = re.findall(r"track +\d+ (\S+)", report)
    assert listed == ["Flute", "Piano", "Fretless"], report
    assert "1 default track  2 Flute" in report
    assert report.rstrip().endswith("default below MIDI 48 with a higher line present: 0")
