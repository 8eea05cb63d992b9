"""SpeechCommands dataset and collate on tiny Speech-Commands-layout folders built here."""

from __future__ import annotations

import math

import pytest
import torch

from audionoise import io
from audionoise.kws import V2_12_WORDS, SpeechCommands, collate

RATE = 8000
CLIP = 800  # 0.1 s at 8 kHz
OTHERS = ["bed", "cat", "dog"]


def _code(word: str, speaker: int, n: int) -> float:
    """A distinct constant amplitude per file (exact in 16-bit PCM: a multiple of 1/32768)."""
    words = V2_12_WORDS + OTHERS
    return (1 + words.index(word) * 40 + speaker * 4 + n) / 1024


def _make_root(tmp_path, speakers=5, reps=2, background=True, val=(3,), test=(4,), words=None):
    """Every word spoken by `speakers` speakers `reps` times; speakers in `val`/`test` are listed."""
    root = tmp_path / "sc"
    words = words or V2_12_WORDS + OTHERS
    val_lines, test_lines = [], []
    for w in words:
        (root / w).mkdir(parents=True)
        for s in range(speakers):
            for n in range(reps):
                rel = f"{w}/spk{s:03d}_nohash_{n}.wav"
                io.save(root / rel, torch.full((1, CLIP), _code(w, s, n)), RATE)
                (val_lines if s in val else test_lines if s in test else []).append(rel)
    (root / "validation_list.txt").write_text("\n".join(val_lines) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test_lines) + "\n")
    if background:
        (root / "_background_noise_").mkdir()
        io.save(root / "_background_noise_" / "hum.wav", torch.full((1, 3 * CLIP), 0.5), RATE)
        ramp = torch.linspace(-0.9, 0.9, 5 * CLIP)[None]
        io.save(root / "_background_noise_" / "ramp.wav", ramp, RATE)
    (root / "README.md").write_text("not a word\n")
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return _make_root(tmp_path_factory.mktemp("kws"))


def _ds(root, subset="training", **kw):
    kw.setdefault("clip_seconds", CLIP / RATE)
    kw.setdefault("sample_rate", RATE)
    return SpeechCommands(root, subset, **kw)


def _speaker(path) -> int:
    return int(path.name.split("_nohash_")[0][3:])


def test_split_lists_are_honoured(root):
    expected = {"training": {0, 1, 2}, "validation": {3}, "testing": {4}}
    for subset, speakers in expected.items():
        ds = _ds(root, subset, labels="all")
        assert {_speaker(f) for f in ds.files} == speakers
        assert len(ds) == len(V2_12_WORDS + OTHERS) * len(speakers) * 2


def test_lists_with_backslashes_and_blank_lines_are_read(tmp_path):
    root = _make_root(tmp_path, speakers=3, val=(1,), test=(2,))
    lines = (root / "validation_list.txt").read_text().splitlines()
    (root / "validation_list.txt").write_text("\n\n".join(ln.replace("/", "\\") for ln in lines) + "\n\n")
    assert {_speaker(f) for f in _ds(root, "validation", labels="all").files} == {1}


def test_background_folder_and_files_are_not_words(root):
    ds = _ds(root, labels="all")
    assert ds.labels == sorted(V2_12_WORDS + OTHERS)
    assert all("_background_noise_" not in str(f) for f in ds.files)


def test_labels_match_folders_and_audio(root):
    ds = _ds(root, "validation", labels=["stop", "bed", "yes"])
    assert ds.labels == ["stop", "bed", "yes"]
    assert len(ds) == 3 * 2
    for i in range(len(ds)):
        x, n, y = ds[i]
        word = ds.files[i].parent.name
        assert ds.labels[y] == word
        expected = _code(word, _speaker(ds.files[i]), int(ds.files[i].stem[-1]))
        assert torch.equal(x, torch.full((1, CLIP), expected)) and n == CLIP


def test_v2_12_classes_and_fractions(root):
    ds = _ds(root, labels="v2-12", silence_fraction=0.1, unknown_fraction=0.1)
    assert ds.labels == V2_12_WORDS + ["_silence_", "_unknown_"]
    known = len(V2_12_WORDS) * 3 * 2  # 10 words, 3 training speakers, 2 repetitions = 60
    counts = torch.bincount(torch.tensor(ds.targets), minlength=12)
    assert counts[:10].tolist() == [6] * 10
    assert counts[10] == math.ceil(0.1 * known) == 6
    assert counts[11] == 6
    unknown_words = {ds.files[i].parent.name for i, t in enumerate(ds.targets) if t == 11}
    assert unknown_words <= set(OTHERS)
    assert len({ds.files[i] for i, t in enumerate(ds.targets) if t == 11}) == 6  # no repeats


def test_unknown_fraction_is_capped_by_available_clips(root):
    ds = _ds(root, labels="v2-12", silence_fraction=0.0, unknown_fraction=5.0)
    assert ds.targets.count(11) == len(OTHERS) * 3 * 2  # all 18 other-word clips, once each
    assert ds.targets.count(10) == 0


def test_silence_is_scaled_background(root):
    ds = _ds(root, labels="v2-12", silence_fraction=0.5, unknown_fraction=0.0)
    silent = [i for i, t in enumerate(ds.targets) if t == 10]
    assert len(silent) == 30 and all(ds.files[i] is None for i in silent)
    volumes = []
    for i in silent:
        x, n, _ = ds[i]
        assert n == CLIP and x.shape == (1, CLIP)
        if torch.allclose(x, x[0, 0].expand_as(x)):  # window of the constant 0.5 clip
            volumes.append(float(x[0, 0]) / 0.5)
        else:  # window of the ramp: equally spaced samples
            steps = x[0, 1:] - x[0, :-1]
            assert torch.allclose(steps, steps.mean().expand_as(steps), atol=1e-4)
            volumes.append(float(steps.mean()) / (1.8 / (5 * CLIP - 1)))
    assert all(0.0 <= v <= 1.0 + 1e-3 for v in volumes)
    assert len({round(v, 4) for v in volumes}) > 20  # volumes vary


def test_silence_without_background_is_zeros(tmp_path):
    root = _make_root(tmp_path, speakers=3, val=(1,), test=(2,), background=False)
    ds = _ds(root, labels=["yes", "_silence_"], silence_fraction=1.0)
    silent = [i for i, t in enumerate(ds.targets) if t == 1]
    assert len(silent) == 2
    for i in silent:
        x, n, _ = ds[i]
        assert torch.count_nonzero(x) == 0 and n == CLIP


def test_padding_cropping_and_lengths(tmp_path):
    root = _make_root(tmp_path, speakers=3, val=(1,), test=(2,))
    io.save(root / "yes" / "short_nohash_0.wav", torch.full((1, 300), 0.25), RATE)
    ramp = (torch.arange(1200) - 600) / 1024
    io.save(root / "yes" / "long_nohash_0.wav", ramp[None], RATE)
    ds = _ds(root, labels=["yes"])
    short = ds[ds.files.index(root / "yes" / "short_nohash_0.wav")]
    assert short[1] == 300 and torch.all(short[0][0, :300] == 0.25) and torch.all(short[0][0, 300:] == 0)
    long = ds[ds.files.index(root / "yes" / "long_nohash_0.wav")]
    assert long[1] == CLIP and torch.equal(long[0][0], ramp[200:1000])  # centred crop


def test_resampling_changes_clip_and_lengths(tmp_path):
    root = _make_root(tmp_path, speakers=3, val=(1,), test=(2,), words=V2_12_WORDS)
    ds = SpeechCommands(root, "validation", labels=["go"], clip_seconds=0.2, sample_rate=16000)
    x, n, _ = ds[0]
    assert ds.clip_samples == 3200 and x.shape == (1, 3200) and n == 1600


def test_determinism_and_seed(root):
    a = _ds(root, labels="v2-12", seed=3)
    b = _ds(root, labels="v2-12", seed=3)
    c = _ds(root, labels="v2-12", seed=4)
    assert a.files == b.files and a.targets == b.targets
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))
    silent = [i for i, t in enumerate(a.targets) if t == 10]
    unknown_a = [f for f, t in zip(a.files, a.targets) if t == 11]
    unknown_c = [f for f, t in zip(c.files, c.targets) if t == 11]
    differ = unknown_a != unknown_c or any(not torch.equal(a[i][0], c[i][0]) for i in silent)
    assert differ


def test_preload_matches_lazy_loading(root):
    lazy = _ds(root, "testing", labels="v2-12", unknown_fraction=0.5, silence_fraction=0.5)
    eager = _ds(root, "testing", labels="v2-12", unknown_fraction=0.5, silence_fraction=0.5, preload=True)
    assert len(lazy) == len(eager)
    for i in range(len(lazy)):
        xl, nl, yl = lazy[i]
        xe, ne, ye = eager[i]
        assert torch.equal(xl, xe) and nl == ne and yl == ye
    x, _, _ = eager[0]
    x += 1  # a caller's in-place change must not leak into the cache
    assert torch.equal(eager[0][0], lazy[0][0])


def test_collate_and_dataloader(root):
    ds = _ds(root, "validation", labels="v2-12")
    loader = torch.utils.data.DataLoader(ds, batch_size=7, shuffle=False, collate_fn=collate)
    x, lengths, y = next(iter(loader))
    assert x.shape == (7, 1, CLIP) and x.dtype == torch.float32
    assert lengths.dtype == torch.int64 and lengths.tolist() == [CLIP] * 7
    assert y.dtype == torch.int64 and y.tolist() == ds.targets[:7]


def test_index_errors(root):
    ds = _ds(root, "testing", labels=["yes"])
    assert torch.equal(ds[-1][0], ds[len(ds) - 1][0])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_missing_root(tmp_path):
    with pytest.raises(ValueError, match=r"not a folder.*make-data"):
        SpeechCommands(tmp_path / "nope")


@pytest.mark.parametrize("name", ["validation_list.txt", "testing_list.txt"])
def test_missing_split_file(tmp_path, name):
    root = _make_root(tmp_path, speakers=3, val=(1,), test=(2,))
    (root / name).unlink()
    with pytest.raises(ValueError, match=name):
        SpeechCommands(root, "training")


def test_unknown_label(root):
    with pytest.raises(ValueError, match=r"\['zebra'\].*available words"):
        _ds(root, labels=["yes", "zebra"])


def test_v2_12_needs_its_words(tmp_path):
    root = _make_root(tmp_path, speakers=3, val=(1,), test=(2,), words=["yes", "bed"])
    with pytest.raises(ValueError, match=r"'no'.*labels='all'"):
        SpeechCommands(root, labels="v2-12")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subset": "train"}, r"subset \('train'\)"),
        ({"labels": "v3"}, r"labels \('v3'\)"),
        ({"labels": ["yes", "yes"]}, "duplicates"),
        ({"labels": []}, "non-empty"),
        ({"silence_fraction": -0.1}, r"silence_fraction \(-0.1\)"),
        ({"unknown_fraction": float("nan")}, "unknown_fraction"),
        ({"clip_seconds": 0}, r"clip_seconds \(0\)"),
        ({"sample_rate": 0}, r"sample_rate \(0\)"),
    ],
)
def test_bad_arguments(root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpeechCommands(root, **kwargs)


def test_no_word_folders(tmp_path):
    (tmp_path / "_background_noise_").mkdir()
    with pytest.raises(ValueError, match="no word folders"):
        SpeechCommands(tmp_path)
