"""audionoise.corpora.manifests: the one JSONL manifest parser, and the same segments through every user of it.

AudioManifest (raises at a bad line), the offline inputs of `audionoise augment` (error lines, the job goes on),
noise banks (skip with a warning) and `audionoise grid` (reads like AudioManifest) parse with one parser and one
segment rule: a line is a segment when it has `offset`; without it the line is the whole file and its
`duration` is informative.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import pytest
import torch

import audionoise as an
from audionoise import io
from audionoise.corpora import manifests as _manifest
from audionoise.data import AudioManifest
from audionoise.robustness.grid import grid_inputs
from audionoise.offline import augment
from audionoise.offline.inputs import collect as offline_inputs
from audionoise.corpora.noise_sources import collect as noise_entries

from offline_helpers import jsonl, make_setup

SR = 16000
A_FRAMES = SR + 37  # 1.0023 s: a NeMo manifest writes "duration": 1.0


def _write(path: Path, lines: list) -> Path:
    """One line per item: a dict is dumped as JSON (non-ASCII as is), str/bytes written as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((json.dumps(x, ensure_ascii=False).encode() if isinstance(x, dict)
                     else x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)
    path.write_bytes(data)
    return path


def _audio(root: Path) -> dict[str, torch.Tensor]:
    """a.wav (A_FRAMES) and b.wav (4000 frames), mono FLOAT with every sample distinct and none silent."""
    root.mkdir(parents=True, exist_ok=True)
    waves = {"a.wav": torch.linspace(-0.5, 0.5, A_FRAMES) + 0.01, "b.wav": torch.linspace(0.4, -0.4, 4000) - 0.01}
    for name, wave in waves.items():
        io.save(root / name, wave[None], SR, subtype="FLOAT")
    return waves


# line -> (audio, offset s, duration s of the segment or None, the frames it holds)
SEGMENTS = {
    1: ("a.wav", 0.0, None, slice(0, A_FRAMES)),   # duration 1.0 only: informative, the whole file
    2: ("a.wav", 0.25, 0.125, slice(4000, 6000)),  # a segment
    3: ("a.wav", 0.5, None, slice(8000, A_FRAMES)),  # offset only: to the end
    5: ("b.wav", 0.0, None, slice(0, 4000)),       # no offset, no duration
    6: ("a.wav", 0.0, 0.5, slice(0, 8000)),        # offset 0 + duration: the first 0.5 s
    7: ("b.wav", 0.0, None, slice(0, 4000)),       # offset null counts as absent: its duration is informative
}
LINES = [
    {"audio_filepath": "a.wav", "duration": 1.0, "text": "whole file"},
    {"audio_filepath": "a.wav", "offset": 0.25, "duration": 0.125, "text": "segment"},
    {"audio_filepath": "a.wav", "offset": 0.5},
    "",
    {"audio_filepath": "b.wav"},
    {"audio_filepath": "a.wav", "offset": 0, "duration": 0.5},
    {"audio_filepath": "b.wav", "offset": None, "duration": 0.1},
]


@pytest.fixture
def corpus(tmp_path):
    waves = _audio(tmp_path / "d")
    return _write(tmp_path / "d" / "m.jsonl", LINES), waves


def _expected(line: int, waves) -> torch.Tensor:
    audio, _, _, frames = SEGMENTS[line]
    return waves[audio][frames]


# ------------------------------------------------------------------------------------------- the parser
def test_rows_follow_the_segment_rule(corpus):
    man, _ = corpus
    rows = _manifest.read(man)
    assert all(isinstance(r, _manifest.Row) for r in rows)
    assert {r.line: (r.audio, r.offset, r.duration) for r in rows} == {n: s[:3] for n, s in SEGMENTS.items()}
    assert [r.segment for r in rows] == [False, True, True, False, True, False]
    assert [r.path for r in rows] == [man.parent / s[0] for s in SEGMENTS.values()]
    assert rows[0].fields == LINES[0]  # every field as written, the informative duration too


def test_bom_crlf_blank_lines_relative_absolute_and_home_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    man = tmp_path / "set" / "m.jsonl"
    man.parent.mkdir()
    text = ('{"audio_filepath": "sub/a.wav", "text": "caf\u00e9 \u2028 line separator"}\r\n\r\n  \t\n'
            f'{{"audio_filepath": "{tmp_path / "abs.wav"}"}}\n'
            '{"audio_filepath": "~/c.wav"}\n{"audio_filepath": "../up/d.wav"}')
    man.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    rows = _manifest.read(man)
    assert [r.line for r in rows] == [1, 4, 5, 6]
    assert [r.path for r in rows] == [man.parent / "sub" / "a.wav", tmp_path / "abs.wav",
                                      tmp_path / "home" / "c.wav", man.parent / ".." / "up" / "d.wav"]
    assert rows[0].fields["text"] == "caf\u00e9 \u2028 line separator"  # U+2028 does not end a line
    inputs = offline_inputs(man, io.READABLE_EXTENSIONS)  # the BOM was a JSON error for `augment` before
    assert not inputs.bad and sorted(it.line for it in inputs.items) == [1, 4, 5, 6]
    with pytest.warns(an.NoiseBankWarning, match="no such file"):  # the files do not exist; every line parses
        entries, skipped = noise_entries(man)
    assert not entries and ["no such file" in s["reason"] for s in skipped] == [True] * 4


def _key(r):
    return type(r), r.line, getattr(r, "path", None), getattr(r, "reason", None)


def test_iter_lines_is_read_one_at_a_time(corpus, tmp_path):
    man, _ = corpus
    bad = _write(tmp_path / "bad.jsonl", ["{", {"audio_filepath": "a.wav", "offset": 1}])
    for path in (man, bad):
        assert [_key(r) for r in _manifest.iter_lines(path)] == [_key(r) for r in _manifest.read(path)]
    lazy = _manifest.iter_lines(tmp_path / "none.jsonl")  # opened at the first next()
    with pytest.raises(FileNotFoundError):
        next(lazy)


BAD_VALUES = [("offset", -1), ("offset", -1e-9), ("offset", True), ("offset", "0.5"), ("offset", [1]),
              ("duration", 0), ("duration", -2.5), ("duration", False), ("duration", "1s")]


@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_bad_seconds_name_the_file_line_and_value(tmp_path, name, value):
    man = _write(tmp_path / "m.jsonl", [{"audio_filepath": "a.wav"}, {"audio_filepath": "a.wav", name: value}])
    ok, bad = _manifest.read(man)
    assert isinstance(ok, _manifest.Row) and isinstance(bad, _manifest.BadLine)
    rule = "> 0" if name == "duration" else ">= 0"
    assert (bad.line, bad.problem, bad.audio) == (2, name, "a.wav")
    assert bad.reason == f'{man}:2: "{name}" must be a number of seconds {rule}, got {value!r}'


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400])
def test_non_finite_and_huge_seconds_are_bad(tmp_path, literal):
    man = _write(tmp_path / "m.jsonl", ['{"audio_filepath": "a.wav", "offset": %s}' % literal,
                                        '{"audio_filepath": "a.wav", "duration": %s}' % literal])
    assert [(r.problem, r.line) for r in _manifest.read(man)] == [("offset", 1), ("duration", 2)]


def test_good_seconds_are_floats(tmp_path):
    man = _write(tmp_path / "m.jsonl", [{"audio_filepath": "a.wav", "offset": 0, "duration": 2},
                                        {"audio_filepath": "a.wav", "offset": -0.0, "duration": 1e-3}])
    rows = _manifest.read(man)
    assert [(r.offset, r.duration) for r in rows] == [(0.0, 2.0), (0.0, 1e-3)]
    assert all(type(r.offset) is float and type(r.duration) is float for r in rows)


BAD_LINES = [  # line 2 of a manifest, the problem, the start of its reason after "m.jsonl:2: "
    ("not json", "json", "not valid JSON (Expecting value at column 1); each line must be one JSON object"),
    ('{"audio_filepath": "a.wav"', "json", "not valid JSON (Expecting ',' delimiter at column 27)"),
    ('["a.wav", 1.0]', "object", "expected a JSON object such as"),
    ('"a.wav"', "object", "expected a JSON object such as {\"audio_filepath\": \"a.wav\", \"duration\": 1.5}, "
                          "got a JSON string"),
    ("null", "object", "expected a JSON object"),
    ('{"duration": 1.0}', "audio_filepath", 'missing "audio_filepath" (a non-empty string'),
    ('{"audio_filepath": null}', "audio_filepath", 'missing "audio_filepath"'),
    ('{"audio_filepath": ""}', "audio_filepath", '"audio_filepath" must be a non-empty string'),
    ('{"audio_filepath": 3}', "audio_filepath", '"audio_filepath" must be a non-empty string'),
    ('{"audio_filepath": "a\\u0000.wav"}', "audio_filepath", '"audio_filepath" must be a non-empty string without'),
    (b'{"audio_filepath": "\xff.wav"}', "encoding", "not UTF-8 text (invalid start byte at byte 21)"),
    ('{"audio_filepath": "a.wav", "offset": -1}', "offset", '"offset" must be a number of seconds >= 0, got -1'),
]


@pytest.mark.parametrize("text, problem, start", BAD_LINES)
def test_bad_lines_say_why_with_file_and_line(tmp_path, text, problem, start):
    man = _write(tmp_path / "m.jsonl", [{"audio_filepath": "a.wav"}, text, {"audio_filepath": "b.wav"}])
    rows = _manifest.read(man)
    assert [type(r).__name__ for r in rows] == ["Row", "BadLine", "Row"] and [r.line for r in rows] == [1, 2, 3]
    bad = rows[1]
    assert bad.problem == problem and bad.problem in _manifest.PROBLEMS
    assert bad.reason.startswith(f"{man}:2: {start}"), bad.reason


def test_a_missing_manifest_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        _manifest.read(tmp_path / "none.jsonl")


# ----------------------------------------------------------------------------- the same segments everywhere
def test_audio_manifest_items_follow_the_rule(corpus):
    man, waves = corpus
    ds = AudioManifest(man)
    assert len(ds) == len(SEGMENTS)
    for k, line in enumerate(SEGMENTS):
        x, meta = ds[k]
        assert torch.equal(x[0], _expected(line, waves)), line
        assert meta["path"] == str(man.parent / SEGMENTS[line][0]) and meta["sample_rate"] == SR
    assert ds[0][1]["duration"] == 1.0 and ds[0][0].shape[-1] == A_FRAMES  # the informative duration is kept


def test_offline_inputs_follow_the_rule(corpus):
    man, waves = corpus
    inputs = offline_inputs(man, io.READABLE_EXTENSIONS)
    assert not inputs.bad and inputs.kind == "manifest"
    by_line = {it.line: it for it in inputs.items}
    assert {n: (Path(it.fields["audio_filepath"]).name, it.offset, it.duration) for n, it in by_line.items()} == \
        {n: s[:3] for n, s in SEGMENTS.items()}
    for line, it in by_line.items():
        assert it.source == man.parent / SEGMENTS[line][0] and it.fields == LINES[line - 1]
        x, _ = io.load(it.source, offset=it.offset, duration=it.duration)
        assert torch.equal(x[0], _expected(line, waves)), line


def test_noise_bank_entries_follow_the_rule(corpus):
    man, waves = corpus
    entries, skipped = noise_entries(man)
    assert not skipped
    assert [(Path(e.path).name, e.offset, e.duration) for e in entries] == [s[:3] for s in SEGMENTS.values()]
    assert [e.name for e in entries] == ["a.wav", "a.wav@0.25s+0.125s", "a.wav@0.5s+end", "b.wav",
                                         "a.wav@0s+0.5s", "b.wav"]
    bank = an.NoiseBank.from_source(man, SR, cache_dir=False, crossfade_s=0.0)
    assert bank.lengths.tolist() == [s[3].stop - s[3].start for s in SEGMENTS.values()]
    for k, line in enumerate(SEGMENTS):
        start, n = int(bank.starts[k]), int(bank.lengths[k])
        assert torch.equal(bank.data[start:start + n], _expected(line, waves)), line


def test_grid_inputs_follow_the_rule(corpus):
    man, _ = corpus
    clips = grid_inputs(man)
    assert [(Path(c["path"]).name, c["offset"], c["duration"]) for c in clips] == [s[:3] for s in SEGMENTS.values()]
    rels = [c["rel"] for c in clips]
    assert len(set(rels)) == len(rels)  # segments and lines sharing a path get the line number
    assert rels == ["a_1.wav", "a_2.wav", "a_3.wav", "b_5.wav", "a_6.wav", "b_7.wav"]


def test_augment_keeps_the_whole_file_of_a_rounded_duration(corpus, tmp_path):
    man, _ = corpus
    s = augment(man, tmp_path / "out", make_setup(tmp_path / "setup"), copies=1, progress=False)
    assert (s.written, s.failed) == (len(SEGMENTS), 0)
    rows = jsonl(tmp_path / "out" / "manifest.jsonl")
    frames = {r["augmentation"]["line"]: r["augmentation"]["frames"] for r in rows}
    assert frames == {n: sl.stop - sl.start for n, (_, _, _, sl) in SEGMENTS.items()}
    assert frames[1] == A_FRAMES  # "duration": 1.0 did not cut the last 37 samples


# ------------------------------------------------------------------------------------ bad lines, per policy
BAD_MANIFEST = [
    {"audio_filepath": "a.wav"},                         # 1 ok
    "not json",                                          # 2
    '["a.wav"]',                                         # 3
    {"text": "no path"},                                 # 4
    {"audio_filepath": "a.wav", "offset": -1},           # 5
    {"audio_filepath": "a.wav", "duration": 0},          # 6: an informative duration is checked too
    b'{"audio_filepath": "\xff.wav"}',                   # 7
    "",                                                  # 8 blank: skipped
    {"audio_filepath": "b.wav", "offset": 0.1},          # 9 ok
]
BAD = [2, 3, 4, 5, 6, 7]


@pytest.fixture
def bad_corpus(tmp_path):
    _audio(tmp_path / "d")
    return _write(tmp_path / "d" / "m.jsonl", BAD_MANIFEST)


def test_parser_reports_every_bad_line(bad_corpus):
    rows = _manifest.read(bad_corpus)
    assert [r.line for r in rows if isinstance(r, _manifest.BadLine)] == BAD
    assert [r.line for r in rows if isinstance(r, _manifest.Row)] == [1, 9]
    assert [r.problem for r in rows if isinstance(r, _manifest.BadLine)] == \
        ["json", "object", "audio_filepath", "offset", "duration", "encoding"]


def test_audio_manifest_raises_at_the_first_bad_line(bad_corpus):
    with pytest.raises(ValueError, match=r"m\.jsonl:2: not valid JSON"):
        AudioManifest(bad_corpus)
    lines = bad_corpus.read_bytes().split(b"\n")
    for n in BAD[1:]:  # each bad line alone after a good one
        single = bad_corpus.with_name(f"single{n}.jsonl")
        single.write_bytes(lines[0] + b"\n" + lines[n - 1] + b"\n")
        with pytest.raises(ValueError, match=rf"single{n}\.jsonl:2: "):
            AudioManifest(single)


def test_offline_inputs_record_bad_lines_and_go_on(bad_corpus):
    inputs = offline_inputs(bad_corpus, io.READABLE_EXTENSIONS)
    assert [(it.line, it.offset, it.duration) for it in inputs.items] == [(1, 0.0, None), (9, 0.1, None)]
    assert sorted(e["line"] for e in inputs.bad.values()) == BAD
    assert {e["line"]: k for k, e in inputs.bad.items()} == {2: "<line 2>", 3: "<line 3>", 4: "<line 4>",
                                                             5: "a.L5.wav", 6: "a.L6.wav", 7: "<line 7>"}
    for e in inputs.bad.values():
        assert e["reason"].startswith(f"m.jsonl line {e['line']}")
    reasons = {e["line"]: e["reason"] for e in inputs.bad.values()}
    assert "is not JSON" in reasons[2] and "not UTF-8" in reasons[7] and '"duration"' in reasons[6]
    assert inputs.bad["a.L5.wav"]["input"] == "a.wav"


def test_noise_bank_skips_bad_lines_with_one_warning_each(bad_corpus):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entries, skipped = noise_entries(bad_corpus)
    messages = [str(w.message) for w in caught if issubclass(w.category, an.NoiseBankWarning)]
    assert [e.name for e in entries] == ["a.wav", "b.wav@0.1s+end"]
    assert len(messages) == len(skipped) == len(BAD)
    for n, m in zip(BAD, messages):
        assert f"line {n} of {bad_corpus}" in m, m
    assert 'skipped a.wav: bad "offset" -1' in messages[3] and 'skipped a.wav: bad "duration" 0' in messages[4]
    assert "not UTF-8" in messages[5]


def test_shared_paths_resolve_the_same_for_every_user(tmp_path):
    """A relative, an absolute and a `..` path: the three users open the same files."""
    waves = _audio(tmp_path / "audio")
    man = _write(tmp_path / "lists" / "m.jsonl", [{"audio_filepath": "../audio/a.wav", "offset": 1.0},
                                                  {"audio_filepath": str(tmp_path / "audio" / "b.wav")}])
    expected = [tmp_path / "lists" / ".." / "audio" / "a.wav", tmp_path / "audio" / "b.wav"]
    assert [r.path for r in _manifest.read(man)] == expected
    assert [Path(r.entries[k].path) for r in [AudioManifest(man)] for k in range(2)] == expected
    assert sorted((it.line, it.source) for it in offline_inputs(man, io.READABLE_EXTENSIONS).items) == \
        list(zip([1, 2], expected))
    entries, _ = noise_entries(man)
    assert [e.path for e in entries] == [os.path.abspath(p) for p in expected]  # the bank's names: normalised
    assert AudioManifest(man)[0][0].shape[-1] == A_FRAMES - SR and math.isclose(entries[0].offset, 1.0)
    assert torch.equal(AudioManifest(man)[1][0][0], waves["b.wav"])
