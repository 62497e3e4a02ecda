"""Specification of the app's tab callbacks (called directly, without a server) and that the app builds."""

from pathlib import Path
from urllib.parse import unquote

import gradio as gr
import numpy as np
import pretty_midi
import pytest
import soundfile
import torch

from core.data.latent_sequences import LatentSequences
from core.music.forms import FREE_FORM
from core.music.melody import pitch_to_token
from core.music.midi_io import extract_melodies, melody_to_pretty_midi, pretty_midi_to_bytes
from core.music.notation import abc_text, musicxml_text
from core.requests import GenerationRequest, replaced
from demo.audition import MAX_LISTED_LINES, describe_and_render
from demo.blocks import build_app
from demo.outputs import PREVIEW_SAMPLE_RATE, STYLE_KEY, play_infill
from demo.roll_player import roll_value
from tests.app_calls import generate_one
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song


def test_app_builds_with_its_tabs():
    app = build_app()
    tabs = [block.label for block in app.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Generate", "Infill", "Long", "Lab", "Listen"]


def test_uploaded_song_lists_its_lines_and_plays_the_chosen_one(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(two_instrument_song())
    table, roll, audio_path = describe_and_render(str(path), "Flute", 120, 2)
    assert "| 1 | lead | Flute | 4 | B4 to G5 |" in table
    assert "| **2** (chosen) | bass | Acoustic Grand Piano | 2 | G2 to C3 |" in table
    assert roll["bars"] == 2 and roll["audio_url"].endswith(audio_path)
    samples, rate = soundfile.read(audio_path)
    assert audio_path.endswith(".ogg") and rate == PREVIEW_SAMPLE_RATE == 22_050
    assert samples.size == round((4.0 + 1.0) * rate)  # 2 bars at 120 BPM + tail
    assert abs(samples).max() > 0.3


def test_an_unnamed_track_is_listed_by_its_place_in_the_file(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(two_instrument_song(lead_name="", bass_name="   "))
    table, *_ = describe_and_render(str(path), "Flute", 120, 1)
    assert "| **1** (chosen) | no name (#1 in the file) | Flute |" in table
    assert "| 2 | no name (#2 in the file) | Acoustic Grand Piano |" in table


def test_an_uploaded_band_file_is_infilled_on_its_tune_and_its_lines_are_listed_tune_first(tmp_path):
    from demo.infill_tab import infill_melody, upload_lines
    from tests.test_melody_lines import band_file

    path = tmp_path / "band.mid"
    path.write_bytes(band_file())
    listing = upload_lines("Uploaded MIDI", str(path), 1)
    assert listing.index("| **1** (chosen) | Flute | Flute |") < listing.index("| 2 | Piano |") \
        < listing.index("| 3 | Fretless Bass |")
    assert upload_lines("Bundled example", str(path), 1) == "" and upload_lines("Uploaded MIDI", None, 1) == ""
    roll, *_ = infill_melody(str(path), "3-4", source="Uploaded MIDI", steps=5, progress=lambda *a, **k: None)
    kept = [pitch for start, _end, pitch in roll["notes"] if start < 32]
    assert kept and min(kept) >= 72, "the flute's bars are kept, not the bass's"


def test_track_names_from_a_file_show_as_plain_text_and_never_as_markup(tmp_path):
    path = tmp_path / "hostile.mid"
    path.write_bytes(midi_bytes([instrument([note(0, 4, 64)], name="<img src=x onerror=alert(1)>"),
                                 instrument([note(0, 4, 62)], name="a|b **bold** [link](http://x) " + "z" * 80)]))
    table, _, _ = describe_and_render(str(path), "Flute", 120, 1)
    assert "<img" not in table and "&lt;img src=x onerror=alert\\(1\\)&gt;" in table
    second = table.splitlines()[3]
    assert "a\\|b \\*\\*bold\\*\\* \\[link\\]" in second and "**" not in second and "](" not in second
    assert second.count("z") < 40  # a long name is cut short


def test_a_file_with_very_many_lines_lists_the_first_forty_and_says_how_many_more(tmp_path):
    path = tmp_path / "many.mid"
    path.write_bytes(midi_bytes([instrument([note(0, 4, 60 + index % 12)], program=index % 100) for index in range(60)]))
    table, _, _ = describe_and_render(str(path), "Flute", 120, 60)
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + MAX_LISTED_LINES
    assert "20 more lines not listed" in table


@pytest.mark.parametrize(
    "content, line, message",
    [
        (b"garbage", 1, "not a Standard MIDI File"),
        (midi_bytes([instrument([note(0, 1, 36)], is_drum=True)]), 1, "no pitched notes"),
        (midi_bytes([instrument([note(0, 4, 60)])], meter=(3, 4)), 1, "time signature 3/4"),
        (two_instrument_song(), 3, "Melody line must be a whole number from 1 to 2, got 3"),
        (two_instrument_song(), "2", "Melody line must be a whole number from 1 to 2, got '2' \\(text\\)"),
    ],
)
def test_unusable_uploads_raise_a_clear_message(tmp_path, content, line, message):
    path = tmp_path / "upload.mid"
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=message):
        describe_and_render(str(path), "Flute", 120, line)


NO_PROGRESS = lambda *args, **kwargs: None  # noqa: E731


def seconds_to_bars(seconds: float, tempo_bpm: float = 120) -> float:
    return seconds / (4 * 60 / tempo_bpm)


class LiveRun:
    """The page's Generate (`generate_live`) run to its end: what it yielded and its progress bar."""

    def __init__(self, *values, watch: bool = False, **named):
        from demo.generate_tab import GENERATE_DEFAULTS, GENERATE_INPUTS, generate_live

        request = {**GENERATE_DEFAULTS, **dict(zip(GENERATE_INPUTS, values)), **named}
        self.progress: list[tuple[float, str]] = []
        self.progress_at_yield: list[float] = []  # how far the bar stood at each yield
        self.yields = []
        for output in generate_live(*(request[name] for name in GENERATE_INPUTS), watch=watch,
                                    progress=lambda fraction, desc: self.progress.append((fraction, desc))):
            self.yields.append(output)
            self.progress_at_yield.append(self.progress[-1][0] if self.progress else 0.0)

    def rolls(self) -> list[tuple[int, dict]]:
        """(index of the yield, RollPlayer value) of every yield that drew something."""
        return [(index, output[0]) for index, output in enumerate(self.yields) if "notes" in output[0]]

    @property
    def result(self) -> tuple:
        """The yield with the result: (roll, MIDI path, melody, audio path (None), query, settings path)."""
        (result,) = [output for output in self.yields if isinstance(output[1], str)]
        return result


def test_generate_in_the_page_shows_the_result_first_then_plays_its_audio_under_one_progress_bar():
    run = LiveRun(8, 3, "Fast", 5, "Diffusion", "Flute", 120)
    roll, midi_path, melody, audio_path, query, settings_path = run.result
    assert roll["bars"] == 8 and roll["audio_url"] is None and audio_path is None, "no audio in the first answer"
    assert seconds_to_bars(pretty_midi.PrettyMIDI(midi_path).get_end_time()) == pytest.approx(8)
    assert melody.shape == (8 * 16,) and "seed=3" in query and settings_path.endswith(".json")
    playing, *unchanged_outputs, ogg_path, _query, _settings = run.yields[-1]
    samples, rate = soundfile.read(ogg_path)
    assert rate == PREVIEW_SAMPLE_RATE and playing["audio_url"].endswith(ogg_path) and ogg_path.endswith(".ogg")
    assert 16 * rate <= samples.size <= 17 * rate, "8 bars at 120 BPM last 16 s, plus the release tail"
    assert playing["notes"] == roll["notes"] == roll_value(melody)["notes"]
    fractions, labels = zip(*run.progress)
    assert list(fractions) == sorted(fractions) and fractions[-1] < 1, "one bar that only moves forward"
    assert labels[:5] == tuple(f"Sampling: step {step} of 5" for step in range(1, 6))
    assert labels[5:] == ("Writing the MIDI file", "Rendering the audio")


def served_file(url: str) -> Path:
    """The file behind a roll value's gradio_api/file=... address."""
    return Path(unquote(url.removeprefix("gradio_api/file=")))


def test_every_result_shows_its_score_and_offers_abc_and_musicxml_of_the_same_notes():
    run = LiveRun(8, 3, "Fast", 5, "Diffusion", "Flute", 96, key="Bb")
    roll, midi_path, melody, *_ = run.result
    score, abc, musicxml = (served_file(roll[key]) for key in ("score_url", "abc_url", "musicxml_url"))
    assert (score.suffix, abc.suffix, musicxml.suffix) == (".svg", ".abc", ".musicxml")
    assert score.with_suffix(".mid") == Path(midi_path), "named as the MIDI they belong to"
    svg = score.read_text()
    assert svg.count('class="measure"') == 8 and svg.count('class="keyAccid"') == 2 * svg.count('class="keySig"')
    assert "K:Bb" in abc.read_text() and "Q:1/4=96" in abc.read_text()
    assert abc.read_text() == abc_text(melody, roll["title"], 96)
    assert musicxml.read_text() == musicxml_text(melody, roll["title"], 96)


def test_infilled_bars_are_labelled_new_in_the_score():
    from demo.infill_tab import infill_melody

    run = LiveRun(8, 3, "Fast", 5, "Diffusion", "Flute", 120)
    melody = run.result[2]
    roll, *_ = infill_melody(None, "3-4", source="Last generation", steps=5, last_melody=melody,
                             progress=lambda *a, **k: None)
    abc = served_file(roll["abc_url"]).read_text()
    bars = [bar.strip() for bar in " ".join(abc.splitlines()[6:]).split("|")]
    assert [index + 1 for index, bar in enumerate(bars) if bar.startswith('"^new"')] == [3, 4]


def test_a_new_instrument_or_tempo_renders_the_result_again_without_sampling(monkeypatch):
    from demo.generate_tab import rerender_result
    from demo.outputs import shared_pipeline

    roll, _midi, melody, _audio, query, _settings = LiveRun(8, 3, "Fast", 5, "Diffusion", "Flute", 120).result
    monkeypatch.setattr(shared_pipeline(), "sample_latents", lambda *a, **k: pytest.fail("sampled again"))
    playing, midi_path, audio_path, new_query, settings_path = rerender_result(
        melody, roll, query, "Violin", 90, progress=lambda *a, **k: None)
    midi = pretty_midi.PrettyMIDI(midi_path)
    assert midi.instruments[0].program == 40 and midi.get_tempo_changes()[1][0] == pytest.approx(90, abs=0.01)
    assert extract_melodies(midi)[0].melody.tolist()[: melody.size] == melody.tolist(), "the same notes"
    assert playing["notes"] == roll["notes"] and playing["title"] == roll["title"]
    assert playing["seconds_per_step"] == pytest.approx(60 / 90 / 4) and playing["audio_url"].endswith(audio_path)
    assert "Q:1/4=90" in served_file(playing["abc_url"]).read_text()
    assert "tempo=90" in new_query and "seed=3" in new_query and Path(settings_path).is_file()
    assert rerender_result(None, None, "", "Violin", 90) == (gr.skip(),) * 5, "no result yet: nothing changes"


@pytest.mark.slow  # samples several melodies on the committed models
def test_the_page_and_the_api_make_the_identical_midi_for_the_same_settings():
    settings = (16, 11, "Fast", 20, "Diffusion", "Violin", 96, "renaissance", 1.5)
    _roll, page_midi, *_ = LiveRun(*settings, watch=True).result
    _roll, api_midi, *_ = generate_one(*settings)
    assert Path(page_midi).read_bytes() == Path(api_midi).read_bytes()


def test_requests_batched_together_get_the_melodies_they_would_get_alone():
    from demo.generate_tab import GENERATE_DEFAULTS, GENERATE_INPUTS, generate_melodies

    requests = [{"bars": 8, "seed": 4, "tempo": 90}, {"bars": 8, "seed": 5, "instrument": "Flute"},
                {"bars": 4, "seed": 4}]
    columns = [[{**GENERATE_DEFAULTS, **request}[name] for request in requests] for name in GENERATE_INPUTS]
    rolls, midi_paths, queries, _settings = generate_melodies(*columns)
    for request, roll, midi_path, query in zip(requests, rolls, midi_paths, queries):
        alone_roll, alone_midi, *_ = generate_one(**request)
        assert roll["notes"] == alone_roll["notes"] and f"seed={request['seed']}" in query
        assert Path(midi_path).read_bytes() == Path(alone_midi).read_bytes(), request
        midi = pretty_midi.PrettyMIDI(midi_path)
        assert midi.get_tempo_changes()[1][0] == pytest.approx(request.get("tempo", 120), abs=1e-3)
        assert midi.instruments[0].program == (73 if "instrument" in request else 0)


@pytest.mark.slow  # samples with DDPM to watch it
def test_watching_shows_the_models_estimates_while_the_sampler_still_runs(monkeypatch):
    from demo import generate_tab

    monkeypatch.setattr(generate_tab, "WATCH_FRAME_S", 0.0)
    run = LiveRun(8, 3, "DDPM, 1000 steps (paper)", None, "Diffusion", "Flute", 120, watch=True)
    rolls = run.rolls()
    estimates = [(index, roll) for index, roll in rolls if roll["title"].startswith("denoising")]
    assert [roll["title"] for _, roll in estimates] == [
        f"denoising: the melody as estimated after step {step} of 1000" for step in range(100, 1001, 100)]
    first_index = estimates[0][0]
    assert run.progress_at_yield[first_index] < generate_tab.SAMPLING_SHARE / 2, "shown while sampling runs"
    assert estimates[0][1]["notes"] != estimates[-1][1]["notes"], "the estimate changes from noise to the melody"
    assert rolls[len(estimates)][1]["notes"] == roll_value(run.result[2])["notes"], "then the result"


def test_stop_ends_the_sampling_itself_not_only_its_display(monkeypatch):
    from demo import generate_tab, live_call

    started = []

    class RecordedCall(live_call.LiveCall):
        def __init__(self, call):
            steps = []
            super().__init__(lambda callback: call(lambda update: (steps.append(update.done), callback(update))))
            started.append((self, steps))

    monkeypatch.setattr(generate_tab, "LiveCall", RecordedCall)
    run = generate_tab.generate_live(8, 3, "DDPM, 1000 steps (paper)", None, progress=lambda *args, **kwargs: None)
    next(run)  # the first heartbeat: the sampler is running
    run.close()  # what Gradio does to a handler whose event is cancelled
    (live, steps), = started
    assert live.wait(10), "the worker thread ends"
    assert 0 < max(steps) < 1000, "the sampler stopped part of the way"


@pytest.mark.slow  # samples several melodies on the committed models
def test_variations_are_the_next_seeds_in_one_call_beside_the_same_seed_from_the_other_model():
    from demo.generate_tab import MAX_VARIATIONS, variations_and_baseline

    outputs = variations_and_baseline(8, 40, "Fast", 10, "Diffusion", "Flute", 120, count=2, baseline=True)
    rolls, midi_paths = outputs[:MAX_VARIATIONS + 1], outputs[MAX_VARIATIONS + 1:]
    assert [roll and roll["title"] for roll in rolls] == ["seed 41, diffusion", "seed 42, diffusion", None, None,
                                                         "seed 40, TransformerMDN (baseline)"]
    assert all(roll["audio_url"] for roll in rolls if roll), "each one plays"
    for seed, midi_path in zip((41, 42), midi_paths):
        alone = generate_one(8, seed, "Fast", 10, "Diffusion", "Flute", 120)[1]
        assert Path(midi_path).read_bytes() == Path(alone).read_bytes()
    assert midi_paths[2:4] == (None, None)
    baseline = generate_one(8, 40, "Fast", 10, "TransformerMDN (baseline)", "Flute", 120)[1]
    assert Path(midi_paths[-1]).read_bytes() == Path(baseline).read_bytes()


def test_four_variations_without_the_baseline_fill_four_slots_and_show_only_those():
    from demo.generate_tab import MAX_VARIATIONS, variation_slots, variations_and_baseline

    outputs = variations_and_baseline(4, 7, "Fast", 5, "TransformerMDN (baseline)", count=4, baseline=False)
    titles = [roll and roll["title"] for roll in outputs[:MAX_VARIATIONS + 1]]
    assert titles == [f"seed {seed}, TransformerMDN (baseline)" for seed in (8, 9, 10, 11)] + [None]
    assert [update["visible"] for update in variation_slots(4, False)] == [True] * 4 + [False]
    assert [update["visible"] for update in variation_slots(1, True)] == [True, False, False, False, True]
    with pytest.raises(gr.Error, match="Variations must be a whole number from 1 to 4"):
        variations_and_baseline(4, 7, count=5)


def test_a_results_settings_replay_to_the_identical_midi_from_the_address_or_the_json_file():
    from demo.generate_tab import GENERATE_INPUTS, replay_file, replay_query
    from demo.sharing import SHARED_FIELDS

    assert SHARED_FIELDS == GENERATE_INPUTS, "every input of a generation is in its link"

    _roll, midi_path, query, settings_path = generate_one(16, 21, "Fast", 12, "Diffusion", "Violin", 96,
                                                          "renaissance", 1.5, False, "Eb", "AABA")
    assert "bars=16" in query and "style=renaissance" in query and "phrasing=False" in query and "bundle=" in query
    assert "key=Eb" in query and "form=AABA" in query
    for replayed in (replay_query("?" + query), replay_file(settings_path)):
        named = dict(zip(GENERATE_INPUTS, replayed))
        assert named["seed"] == 21 and named["guidance"] == 1.5 and named["phrasing"] is False and named["key"] == "Eb"
        assert named["form"] == "AABA"
        again = generate_one(*replayed)[1]
        assert Path(again).read_bytes() == Path(midi_path).read_bytes()
    older = dict(zip(GENERATE_INPUTS, replay_query(
        "?" + query.replace("&phrasing=False", "").replace("&key=Eb", "").replace("&form=AABA", ""))))
    assert older["phrasing"] is False, "links from before phrases were shaped"
    assert older["key"] == STYLE_KEY, "links from before the key could be chosen"
    assert older["form"] == FREE_FORM, "links from before forms"


def test_a_form_ties_its_restated_phrases_and_phrasing_leaves_the_drawn_latents_alone():
    from demo.outputs import shared_pipeline

    request = GenerationRequest.of(bars=32, seeds=(0, 1), form="AABB")
    shaped = shared_pipeline().generate(request)
    raw = shared_pipeline().generate(replaced(request, phrasing=False))
    for result, as_drawn in zip(shaped, raw):
        assert torch.equal(result.latents[5:8], result.latents[1:4]) and torch.equal(result.latents[13:], result.latents[9:12])
        assert torch.equal(result.latents, as_drawn.latents), "phrasing shapes the decoded notes, not the latents"
        assert np.array_equal(as_drawn.melody.reshape(16, 32)[5:8], as_drawn.melody.reshape(16, 32)[1:4])
    _roll, _midi, query, _settings = generate_one(32, 0, form="AABB")
    assert "form=AABB" in query and "AABB" in _roll["title"]


def test_settings_that_cannot_be_replayed_are_explained(tmp_path):
    from demo.generate_tab import replay_file, replay_query

    with pytest.raises(gr.Error, match="no settings"):
        replay_query("")
    with pytest.raises(gr.Error, match="missing"):
        replay_query("bundle=x&bars=8")
    with pytest.raises(gr.Error, match="bars must be a number"):
        replay_query("bundle=x&bars=eight&seed=1&sampler=Fast&steps=&model=Diffusion&instrument=Flute&tempo=120"
                     "&style=folk&guidance=2")
    with pytest.raises(gr.Error, match="Setting phrasing must be true or false"):
        replay_query("bundle=x&bars=8&seed=1&sampler=Fast&steps=&model=Diffusion&instrument=Flute&tempo=120"
                     "&style=folk&guidance=2&phrasing=maybe")
    garbage = tmp_path / "settings.json"
    garbage.write_text("[1, 2]")
    with pytest.raises(gr.Error, match="not a settings file"):
        replay_file(str(garbage))


@pytest.mark.parametrize("arguments, message", [
    ((7, 0), "Bars must be an even number"), ((8, -1), "Seed must be a whole number"),
    ((8, 0.5), "Seed must be a whole number"), ((8, "7"), "Seed must be a whole number"),
    ((8, 0, "Fast", 0), "Steps must be"), ((8, 0, "Fast", 5, "GPT"), "Unknown model"),
    ((8, 0, "Fast", 5, "Diffusion", "Kazoo"), "Unknown instrument"),
    ((8, 0, "Fast", 5, "Diffusion", "Flute", 1000), "Tempo must lie"),
])
def test_generate_explains_bad_requests_before_they_join_a_batch(arguments, message):
    from demo.generate_tab import check_generation

    with pytest.raises(gr.Error, match=message):
        check_generation(list(arguments))
    with pytest.raises(gr.Error, match=message):
        generate_one(*arguments)
    with pytest.raises(gr.Error, match=message):
        LiveRun(*arguments)


@pytest.mark.slow  # infills with each method on the committed models
@pytest.mark.parametrize("method", ["Diffusion", "Interpolation (baseline)", "Prior (baseline)"])
def test_infill_tab_regenerates_the_chosen_bars_of_a_bundled_example(method):
    from demo.infill_tab import EXAMPLES, infill_melody, line_from_file

    name = "nightingale clog"
    original = line_from_file(str(EXAMPLES[name]), 1).melody
    roll, midi_path, *previews, _history = infill_melody(
        None, "5-8, 17-20", 0, "Bundled example", name, 1, method, "Fast", 5, "Flute", 120, None,
        progress=NO_PROGRESS)
    before_path, playing, after_path = play_infill(*previews, roll)
    (before, rate), (after, _) = soundfile.read(before_path), soundfile.read(after_path)
    assert playing["audio_url"].endswith(after_path)
    assert before.size == after.size > 30 * rate
    assert roll["shaded"] == [[5, 8], [17, 20]]
    ghost_bars = {start // 16 + 1 for start, _, _ in roll["ghost"]}
    assert ghost_bars and ghost_bars <= {5, 6, 7, 8, 17, 18, 19, 20}, "the replaced notes, drawn faint"
    result = extract_melodies(pretty_midi.PrettyMIDI(midi_path))[0].melody
    kept = np.ones(original.size, bool)
    kept[4 * 16:8 * 16] = kept[16 * 16:20 * 16] = False
    assert np.array_equal(result[:original.size][kept][:-32], original[kept][:-32])


def test_infill_tab_uses_the_last_generation_and_explains_missing_sources(tmp_path):
    from demo.infill_tab import infill_melody

    melody = np.zeros(8 * 16, np.int8)
    melody[::16] = pitch_to_token(60)  # a middle C on every downbeat
    outputs = infill_melody(None, "3-4", 0, "Last generation", "", 1, "Diffusion", "Fast", 5, "Flute", 120,
                            melody, progress=NO_PROGRESS)
    assert outputs[0]["shaded"] == [[3, 4]]
    with pytest.raises(gr.Error, match="Nothing has been generated"):
        infill_melody(None, "3-4", 0, "Last generation", progress=NO_PROGRESS)
    with pytest.raises(gr.Error, match="Upload a .mid"):
        infill_melody(None, "3-4", 0, "Uploaded MIDI", progress=NO_PROGRESS)
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd garbage")
    with pytest.raises(gr.Error, match="cannot be used"):
        infill_melody(str(corrupt), "3-4", 0, progress=NO_PROGRESS)
    with pytest.raises(gr.Error, match="the melody has bars 1 to 8"):
        infill_melody(None, "3-40", 0, "Last generation", "", 1, last_melody=melody, progress=NO_PROGRESS)


def test_infill_this_melody_before_any_generation_says_to_generate_first():
    from demo.blocks import open_in_infill

    with pytest.raises(gr.Error, match="Generate a melody first"):
        open_in_infill(None)
    source, tabs = open_in_infill(np.zeros(32, np.int8))
    assert source == "Last generation" and tabs.selected == "infill"


def test_edits_build_on_each_other_and_back_undoes_the_newest():
    from demo.infill_tab import LATEST, back_to_earlier, continue_melody, infill_melody, show_source, versions_text

    melody = np.zeros(16 * 16, np.int8)
    melody[::8] = pitch_to_token(67)  # 16 bars of half notes on G4
    first = infill_melody(None, "9-12", 0, "Last generation", "", 1, "Diffusion", "Fast", 5, "Flute", 120, melody,
                          progress=NO_PROGRESS)
    history = first[4]
    assert len(history) == 1 and first[0]["shaded"] == [[9, 12]]
    second = infill_melody(None, "1-4", 0, LATEST, "", 1, "Diffusion", "Fast", 5, "Flute", 120, melody,
                           history=history, progress=NO_PROGRESS)
    history = second[4]
    assert second[0]["shaded"] == [[1, 4], [9, 12]], "the shading shows every bar regenerated so far"
    kept = history[0].source.melody
    assert np.array_equal(history[1].source.melody[8 * 16 : 12 * 16], kept[8 * 16 : 12 * 16]), \
        "the first edit's bars are kept: the second edit worked on its result"
    third = continue_melody(None, 4, 0, LATEST, "", 1, "Fast", 5, "Flute", 120, melody, history=history,
                            progress=NO_PROGRESS)
    history = third[4]
    assert third[0]["bars"] == 20 and third[0]["shaded"] == [[1, 4], [9, 12], [17, 20]]
    assert np.array_equal(history[2].source.melody[: 16 * 16], history[1].source.melody)
    assert show_source(LATEST, None, "", 1, None, "1-2", 120, history)["notes"] == third[0]["notes"]
    assert versions_text(history).count("\n3. 4 new bars added (shown)") == 1
    roll, midi_path, _audio, earlier, text = back_to_earlier(history)
    assert len(earlier) == 2 and roll["shaded"] == [[1, 4], [9, 12]] and midi_path == second[1]
    assert "2. bars 1-4 regenerated (diffusion), shaded (shown)" in text
    with pytest.raises(gr.Error, match="no earlier version"):
        back_to_earlier(earlier[:1])
    with pytest.raises(gr.Error, match="Nothing has been infilled or continued"):
        infill_melody(None, "1-4", 0, LATEST, progress=NO_PROGRESS)
    assert show_source(LATEST, None, "", 1, None, "1-2", 120, []) is None


def test_continuing_a_bundled_example_keeps_it_whole_and_adds_the_requested_bars_with_notes():
    from demo.infill_tab import EXAMPLES, continue_melody, line_from_file

    name = "nightingale clog"
    original = line_from_file(str(EXAMPLES[name]), 1).melody
    original_bars = -(-original.size // 32) * 2  # whole 2-bar latents
    roll, midi_path, before, after, _history = continue_melody(None, 8, 0, "Bundled example", name, 1, "Fast", 10,
                                                                 "Flute", 120, progress=NO_PROGRESS)
    assert roll["shaded"] == [[original_bars + 1, original_bars + 8]]
    result = extract_melodies(pretty_midi.PrettyMIDI(midi_path))[0].melody
    assert np.array_equal(result[:original.size], original)
    added = result[original_bars * 16:]
    assert added.size > 6 * 16 and (added >= 2).sum() >= 16, "the new bars hold notes"
    assert seconds_to_bars(before.midi.get_end_time(), 120) == pytest.approx(original.size / 16)
    assert seconds_to_bars(after.midi.get_end_time(), 120) == pytest.approx(original_bars + 8)
    with pytest.raises(gr.Error, match="Bars to add must be a whole number from 2"):
        continue_melody(None, 0, 0, "Bundled example", name, progress=NO_PROGRESS)


@pytest.mark.slow  # samples several melodies on the committed models
def test_infill_and_continue_shape_the_new_bars_unless_told_not_to():
    from demo.infill_tab import EXAMPLES, continue_melody, infill_melody, line_from_file

    name = "nightingale clog"  # folk: infilled folk bars restate kept phrases as real tunes do (core.shaping)
    original = line_from_file(str(EXAMPLES[name]), 1).melody
    shaped, drawn = (infill_melody(None, "9-24", 0, "Bundled example", name, style="folk", phrasing=phrasing,
                                   progress=NO_PROGRESS)[1] for phrasing in (True, False))
    shaped_melody, drawn_melody = (extract_melodies(pretty_midi.PrettyMIDI(path))[0].melody for path in (shaped, drawn))
    for melody in (shaped_melody, drawn_melody):
        assert np.array_equal(melody[: 8 * 16], original[: 8 * 16]), "the kept bars stay"
        assert np.array_equal(melody[24 * 16 : original.size], original[24 * 16 :])
    assert not np.array_equal(shaped_melody, drawn_melody), "shaping changes the new bars (or the best-joined draw)"
    with pytest.raises(gr.Error, match=r"shape phrases\) must be true or false"):
        continue_melody(None, 8, 0, "Bundled example", name, phrasing="maybe", progress=NO_PROGRESS)


def test_the_infill_source_is_drawn_before_infilling_with_the_typed_bars_selected(tmp_path):
    from demo.infill_tab import EXAMPLES, line_from_file, show_source, source_inputs

    name = "nightingale clog"
    roll = show_source("Bundled example", None, name, 1, None, "17-24", 100)
    assert roll["notes"] == roll_value(line_from_file(str(EXAMPLES[name]), 1).melody)["notes"]
    assert roll["selection"] == [17, 24] and roll["seconds_per_step"] == pytest.approx(60 / 100 / 4)
    assert show_source("Uploaded MIDI", None, name, 1, None, "1-2", 120) is None, "nothing uploaded yet"
    assert show_source("Last generation", None, name, 1, None, "1-2", 120) is None, "nothing generated yet"
    song = tmp_path / "song.mid"
    song.write_bytes(two_instrument_song())
    assert show_source("Uploaded MIDI", str(song), name, 2, None, "1-2", 120)["bars"] == 2
    uploaded = [update["visible"] for update in source_inputs("Uploaded MIDI")]
    example = [update["visible"] for update in source_inputs("Bundled example")]
    assert uploaded == [True, True, False] and example == [False, False, True], "only the chosen source's inputs"


def test_long_tab_writes_more_bars_than_the_training_length_with_a_similarity_matrix():
    from demo.long_tab import generate_long, latent_self_similarity

    roll, matrix, midi_path, preview = generate_long(132, 2, True, "Flute", 240, progress=NO_PROGRESS)
    assert preview.midi.get_tempo_changes()[1].tolist() == [240]
    assert seconds_to_bars(preview.midi.get_end_time(), 240) == pytest.approx(132)
    assert seconds_to_bars(pretty_midi.PrettyMIDI(midi_path).get_end_time(), 240) == pytest.approx(132)
    similarity = np.asarray(matrix.data[0].z)
    assert similarity.shape == (66, 66) and np.allclose(np.diag(similarity), 1, atol=1e-5)
    assert np.allclose(similarity, similarity.T, atol=1e-6)
    latents = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert np.allclose(latent_self_similarity(latents), [[1, 0, -1], [0, 1, 0], [-1, 0, 1]])


def test_the_lab_shows_the_committed_results_as_tables_under_readable_headers():
    from demo.eval_tab import committed_outputs, result_sets

    assert {"folk_32bars", "renaissance_64bars"} <= set(result_sets())
    unconditional, infilling, musicality, _raw, bars, _curve = committed_outputs("folk_32bars")
    assert {"TransformerMDN", "diffusion DDPM-1000", "prior"} <= set(unconditional.data["System"])
    assert list(unconditional.data.columns[:3]) == ["System", "Pitch C", "Pitch Var"]
    assert set(infilling.data["System"]) >= {"infill: diffusion", "infill: interpolation", "held-out (raw melodies)"}
    assert "Notes in the best diatonic scale" in musicality.data.columns
    assert "-0.000" not in unconditional.to_html() + infilling.to_html(), "a distance of -1e-14 shows as 0.000"
    assert bars.layout.barmode == "group"
    assert committed_outputs("no such run") == [None] * 6


@pytest.fixture()
def without_corpus(monkeypatch, tmp_path):
    """The app as a Space runs it: no data/ folder, only the committed files."""
    import demo.eval_tab

    monkeypatch.setattr(demo.eval_tab, "LATENTS_PATH", tmp_path / "data" / "latents_music21.npz")
    monkeypatch.setattr(demo.eval_tab, "CACHE_PATH", tmp_path / "data" / "music21.npz")
    return demo.eval_tab


@pytest.mark.slow  # reruns the evaluation protocol
def test_the_quick_rerun_without_the_corpus_reruns_on_the_sample_shipped_with_the_model(without_corpus):
    """About 40 s on 2 CPU cores: the DDPM rows take 1000 steps whatever N."""
    eval_tab = without_corpus
    assert eval_tab.rerun_corpus() == (eval_tab.SAMPLE_LATENTS_PATH, eval_tab.SAMPLE_CACHE_PATH)
    assert "on a sample of 64 held-out and 64 training melodies (folk, renaissance)" in eval_tab.rerun_description()
    rerun = eval_tab.quick_evaluation(n=2, name="folk_32bars", progress=NO_PROGRESS)
    committed = eval_tab.committed_outputs("folk_32bars")
    for table, committed_table in zip(rerun[:4], committed[:4]):
        assert table.data["System"].tolist() == committed_table.data["System"].tolist()
        assert table.data.columns.tolist() == committed_table.data.columns.tolist()
    unconditional, infilling = (table.data.set_index("System") for table in rerun[:2])
    assert unconditional.loc["train (GT)", ["Pitch C", "Pitch Var"]].tolist() == [1, 1], "C and Var against itself"
    held_out = unconditional.loc["held-out through the VAE"]
    assert held_out[["Frechet distance", "MMD"]].tolist() == pytest.approx([0, 0], abs=1e-4), "against itself"
    assert infilling.loc["infill: held-out (truth)"].tolist() == held_out.tolist(), "the same held-out windows"


def test_the_quick_rerun_says_why_it_cannot_run_and_refuses_a_sample_of_other_weights(without_corpus, monkeypatch,
                                                                                       tmp_path):
    eval_tab = without_corpus
    stale = LatentSequences.load(eval_tab.SAMPLE_LATENTS_PATH)
    stale.encoder_sha256 = "0" * 64
    stale.save(tmp_path / "stale.npz")
    monkeypatch.setattr(eval_tab, "SAMPLE_LATENTS_PATH", tmp_path / "stale.npz")
    with pytest.raises(gr.Error, match="encoded with another VAE or codec"):
        eval_tab.quick_evaluation(n=2, name="folk_32bars", progress=NO_PROGRESS)
    monkeypatch.setattr(eval_tab, "SAMPLE_LATENTS_PATH", tmp_path / "missing.npz")
    assert eval_tab.rerun_corpus() is None and eval_tab.rerun_description() == eval_tab.QUICK_RERUN_MISSING
    with pytest.raises(gr.Error, match="has neither"):
        eval_tab.quick_evaluation(n=2, name="folk_32bars", progress=NO_PROGRESS)
    for path in (eval_tab.LATENTS_PATH, eval_tab.CACHE_PATH):
        path.parent.mkdir(exist_ok=True)
        path.touch()
    assert eval_tab.rerun_corpus() == (eval_tab.LATENTS_PATH, eval_tab.CACHE_PATH), "a full checkout: the corpus"
    assert "on the full encoded corpus in data/" in eval_tab.rerun_description()


def test_style_strength_is_usable_only_where_it_changes_the_melody():
    from demo.outputs import MODEL_LABELS, strength_control

    assert strength_control("folk", MODEL_LABELS[0])["interactive"] is True
    assert strength_control("any", MODEL_LABELS[0])["interactive"] is False, "no style: nothing to steer"
    assert strength_control("folk", MODEL_LABELS[1])["interactive"] is False, "the MDN takes the label or not"


def test_choosing_a_bundled_example_sets_the_style_it_is_written_in_and_the_page_opens_that_way():
    from demo.infill_tab import EXAMPLES, example_style

    assert {name: example_style(name, "folk") for name in EXAMPLES} == {
        "monteverdi madrigal canto": "renaissance", "mozart k80 violin": "classical", "nightingale clog": "folk"}
    app = build_app()
    on_load = [fn for fn in app.fns.values() if fn.name == "example_style"
               and any(trigger == "load" for _, trigger in fn.targets)]
    assert len(on_load) == 1 and on_load[0].outputs[0].value == "folk", "set on load; the API's default stays folk"


def test_leaving_a_bundled_example_for_an_upload_leaves_the_examples_style_behind_but_not_a_chosen_one():
    from demo.infill_tab import source_style

    madrigal = "monteverdi madrigal canto"
    assert source_style("Bundled example", madrigal, "folk") == "renaissance"
    assert source_style("Uploaded MIDI", madrigal, "renaissance") == "folk", "the style the example set goes"
    assert source_style("Uploaded MIDI", madrigal, "classical") == "classical", "a style the user chose stays"
    assert source_style("Last generation", "nightingale clog", "folk") == "folk"


def test_an_uploaded_90_bpm_violin_line_comes_back_at_90_bpm_on_the_violin_unless_told_otherwise(tmp_path):
    from demo.infill_tab import continue_melody, infill_melody

    melody = np.zeros(16 * 16, np.int8)
    melody[::4] = [pitch_to_token(67 + [0, 2, 4, 5, 7, 5, 4, 2][i % 8]) for i in range(64)]
    path = tmp_path / "violin.mid"
    path.write_bytes(pretty_midi_to_bytes(melody_to_pretty_midi(melody, tempo_bpm=90, program=40)))
    for outputs in (infill_melody(str(path), "5-8", 0, "Uploaded MIDI", steps=5, progress=NO_PROGRESS),
                    continue_melody(str(path), 4, 0, "Uploaded MIDI", steps=5, progress=NO_PROGRESS)):
        result = pretty_midi.PrettyMIDI(outputs[1])
        assert result.get_tempo_changes()[1] == pytest.approx([90.0], abs=0.01) and result.instruments[0].program == 40
        assert outputs[2].midi.instruments[0].program == 40, "the original's preview plays it as it was"
    chosen = pretty_midi.PrettyMIDI(infill_melody(str(path), "5-8", 0, "Uploaded MIDI", steps=5, instrument="Flute",
                                                  tempo=120, own_tempo=False, progress=NO_PROGRESS)[1])
    assert chosen.get_tempo_changes()[1] == pytest.approx([120.0], abs=0.01) and chosen.instruments[0].program == 73
