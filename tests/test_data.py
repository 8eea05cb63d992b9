"""Tests for audionoise.data: folder and manifest datasets, pad_collate, per-item augmentation in DataLoaders."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import audionoise as an
from audionoise import data, io
from audionoise.functional import snr_db

SR = 8000


def _ramp(channels: int, frames: int, start: int = 0) -> torch.Tensor:
    """Distinct sample values k / 2**23 (exact in 24-bit and float files) so any misplaced frame shows."""
    k = torch.arange(start, start + channels * frames, dtype=torch.float64).view(channels, frames)
    return ((k % 2**22) / 2**23).float()


def _clip(seed: int, channels: int, frames: int) -> torch.Tensor:
    return 0.1 * torch.randn(channels, frames, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def folder(tmp_path) -> Path:
    """Six mono clips of different lengths in nested folders, plus a hidden file and a non-audio file."""
    root = tmp_path / "clips"
    for k, rel in enumerate(["b/2.wav", "a.wav", "b/1.flac", "c/d/e.wav", "z.WAV", "b/0.wav"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        io.save(root / rel, _clip(k, 1, 300 + 70 * k), SR)
    io.save(root / "b" / ".hidden.wav", _clip(9, 1, 100), SR)
    (root / "notes.txt").write_text("not audio")
    return root


def _write_manifest(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- AudioFolder
def test_folder_lists_audio_recursively_sorted_relative(folder):
    ds = data.AudioFolder(folder)
    assert ds.files == ["a.wav", "b/0.wav", "b/1.flac", "b/2.wav", "c/d/e.wav", "z.WAV"]
    x, meta = ds[2]
    stored, _ = io.load(folder / "b" / "1.flac")
    assert x.dtype == torch.float32 and torch.equal(x, stored)
    assert meta == {"path": str(folder / "b" / "1.flac"), "relative_path": "b/1.flac", "sample_rate": SR}
    assert torch.equal(ds[-1][0], ds[5][0])
    with pytest.raises(IndexError, match="out of range"):
        ds[6]


def test_folder_extensions_resampling_and_mono(tmp_path, folder):
    assert data.AudioFolder(folder, extensions=("flac",)).files == ["b/1.flac"]
    assert data.AudioFolder(folder, extensions=".WAV").files == ["a.wav", "b/0.wav", "b/2.wav", "c/d/e.wav", "z.WAV"]
    x, meta = data.AudioFolder(folder, sample_rate=16000)[0]
    assert meta["sample_rate"] == 16000 and x.shape == (1, 2 * io.info(folder / "a.wav").frames)
    (tmp_path / "st").mkdir()
    io.save(tmp_path / "st" / "s.wav", _ramp(2, 50), SR, subtype="FLOAT")
    y, _ = data.AudioFolder(tmp_path / "st", mono=True)[0]
    assert torch.equal(y, _ramp(2, 50).mean(0, keepdim=True))


def test_folder_errors(tmp_path, folder):
    with pytest.raises(ValueError, match="not a folder"):
        data.AudioFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        data.AudioFolder(tmp_path / "empty")
    with pytest.raises(ValueError, match="'.m4a' is not read"):
        data.AudioFolder(folder, extensions=[".m4a"])
    with pytest.raises(ValueError, match="sample_rate"):
        data.AudioFolder(folder, sample_rate=0)


def test_folder_labels_from_the_first_folder(folder):
    with pytest.raises(ValueError, match=r"label_from='folder' .* 2 file\(s\) lie directly in it \(e\.g\. 'a\.wav'\)"):
        data.AudioFolder(folder, label_from="folder")
    with pytest.raises(ValueError, match="label_from must be None or 'folder', got 'parent'"):
        data.AudioFolder(folder, label_from="parent")
    (folder / "a.wav").unlink()
    (folder / "z.WAV").unlink()
    ds = data.AudioFolder(folder, label_from="folder")
    assert ds.files == ["b/0.wav", "b/1.flac", "b/2.wav", "c/d/e.wav"]
    assert ds.classes == ["b", "c"] and ds.labels == [0, 0, 0, 1]  # c/d/e.wav: the first folder is the class
    _, meta = ds[-1]
    assert meta["label"] == 1 and meta["class_name"] == "c" and meta["relative_path"] == "c/d/e.wav"
    x, lengths, metas = data.pad_collate([ds[i] for i in range(4)])
    assert torch.tensor([m["label"] for m in metas]).tolist() == [0, 0, 0, 1]
    assert data.AudioFolder(folder).classes == [] and "label" not in data.AudioFolder(folder)[0][1]


def test_folder_corrupt_file_raises_audio_file_error_naming_it(folder):
    (folder / "b" / "1b.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    ds = data.AudioFolder(folder)
    i = ds.files.index("b/1b.wav")
    with pytest.raises(io.AudioFileError, match=r"b/1b\.wav: not a readable audio file"):
        ds[i]
    assert ds[i - 1][0].shape[0] == 1  # the others still read


# ---------------------------------------------------------------------------------------------- AudioManifest
def test_manifest_relative_paths_segments_and_extra_fields(tmp_path):
    audio = tmp_path / "set" / "audio"
    audio.mkdir(parents=True)
    signal = _ramp(2, SR)  # 1 s stereo, every sample distinct
    io.save(audio / "long.wav", signal, SR, subtype="FLOAT")
    io.save(tmp_path / "abs.flac", _ramp(1, 400, start=7), SR, subtype="PCM_24")
    manifest = _write_manifest(tmp_path / "set" / "train.jsonl", [
        {"audio_filepath": "audio/long.wav", "duration": 0.125, "offset": 0.25, "text": "hello", "label": 3},
        "",
        {"audio_filepath": str(tmp_path / "abs.flac"), "duration": 0.05, "speaker": "s1"},
        {"audio_filepath": "audio/long.wav", "offset": 0.75},
    ])
    ds = data.AudioManifest(manifest)
    assert len(ds) == 3
    x, meta = ds[0]
    assert torch.equal(x, signal[:, 2000:3000])  # frames [0.25 s, 0.375 s) exactly
    assert meta == {"audio_filepath": "audio/long.wav", "duration": 0.125, "offset": 0.25, "text": "hello",
                    "label": 3, "path": str(audio / "long.wav"), "sample_rate": SR}
    y, meta = ds[1]
    assert torch.equal(y, _ramp(1, 400, start=7)) and meta["speaker"] == "s1"  # duration = whole file
    z, _ = ds[2]
    assert torch.equal(z, signal[:, 6000:])  # no duration: to the end
    r, meta = data.AudioManifest(manifest, sample_rate=16000, mono=True)[0]
    assert r.shape == (1, 2000) and meta["sample_rate"] == 16000
    # a rate in Hz (the file's, as augment's OUT/manifest.jsonl writes it) is allowed: the returned rate replaces it
    rated = _write_manifest(tmp_path / "set" / "rated.jsonl", [{"audio_filepath": "audio/long.wav", "sample_rate": SR}])
    assert data.AudioManifest(rated, sample_rate=16000)[0][1]["sample_rate"] == 16000


@pytest.mark.parametrize("bad, message", [
    ('{"audio_filepath": "a.wav", "duration": 1.0', r"train\.jsonl:3: not valid JSON"),
    ('{"duration": 1.0}', r"train\.jsonl:3: missing \"audio_filepath\""),
    ('["a.wav", 1.0]', r"train\.jsonl:3: expected a JSON object"),
    ('{"audio_filepath": "a.wav", "offset": -1}', r"train\.jsonl:3: \"offset\" must be a number of seconds >= 0"),
    ('{"audio_filepath": "a.wav", "duration": "1s"}', r"train\.jsonl:3: \"duration\" must be a number"),
    ('{"audio_filepath": "a.wav", "sample_rate": "16 kHz"}', r"train\.jsonl:3: field 'sample_rate' is set by"),
    ('{"audio_filepath": "a.wav", "path": "b.wav"}', r"train\.jsonl:3: field 'path' is set by"),
])
def test_manifest_bad_line_names_file_and_line(tmp_path, bad, message):
    manifest = _write_manifest(tmp_path / "train.jsonl", [{"audio_filepath": "a.wav", "duration": 1.0}, "", bad])
    with pytest.raises(ValueError, match=message):
        data.AudioManifest(manifest)


def test_manifest_unreadable_audio_names_file_and_line(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"\x00" * 64)
    io.save(tmp_path / "ok.wav", torch.zeros(1, 80), SR)
    manifest = _write_manifest(tmp_path / "m.jsonl", [{"audio_filepath": "ok.wav", "duration": 0.01},
                                                      {"audio_filepath": "bad.wav", "duration": 0.01},
                                                      {"audio_filepath": "gone.wav", "duration": 0.01},
                                                      {"audio_filepath": "ok.wav", "offset": 0.5}])
    ds = data.AudioManifest(manifest)
    assert ds[0][0].shape == (1, 80)
    with pytest.raises(io.AudioFileError, match=r"bad\.wav: .* \(line 2 of .*m\.jsonl\)"):
        ds[1]
    with pytest.raises(io.AudioFileError, match=r"gone\.wav: no such file.*\(line 3 of"):
        ds[2]
    with pytest.raises(io.AudioFileError, match=r"ok\.wav: offset 0\.5 s .* past the end.*\(line 4 of"):
        ds[3]
    with pytest.raises(ValueError, match="no such manifest"):
        data.AudioManifest(tmp_path / "none.jsonl")


# ---------------------------------------------------------------------------------------------- pad_collate
def test_pad_collate_mono_is_2d_with_zero_padding_and_lengths():
    items = [(_clip(k, 1, n), {"sample_rate": SR, "k": k}, k + 10, f"s{k}") for k, n in enumerate([5, 9, 2])]
    x, lengths, meta, labels, names = data.pad_collate(items)
    assert x.shape == (3, 9) and x.dtype == torch.float32
    assert lengths.dtype == torch.int64 and lengths.tolist() == [5, 9, 2]
    for k, (w, *_) in enumerate(items):
        assert torch.equal(x[k, : w.shape[1]], w[0])
        assert torch.count_nonzero(x[k, w.shape[1]:]) == 0
    assert [m["k"] for m in meta] == [0, 1, 2]
    assert labels.dtype == torch.int64 and labels.tolist() == [10, 11, 12]
    assert names == ["s0", "s1", "s2"]


def test_pad_collate_multichannel_is_3d_and_bare_or_1d_items_work():
    x, lengths = data.pad_collate([_clip(0, 2, 4), _clip(1, 2, 7)])
    assert x.shape == (2, 2, 7) and lengths.tolist() == [4, 7]
    assert torch.count_nonzero(x[0, :, 4:]) == 0 and torch.equal(x[1], _clip(1, 2, 7))
    y, lengths, t = data.pad_collate([(torch.ones(3), torch.zeros(2)), (torch.ones(1), torch.ones(2))])
    assert y.tolist() == [[1, 1, 1], [1, 0, 0]] and t.shape == (2, 2)


def test_pad_collate_errors():
    with pytest.raises(ValueError, match="no items"):
        data.pad_collate([])
    with pytest.raises(ValueError, match=r"item 1 has 2 channel\(s\) but item 0 has 1"):
        data.pad_collate([_clip(0, 1, 4), _clip(1, 2, 4)])
    with pytest.raises(ValueError, match="item 1 has sample rate 16000 Hz but item 0 has 8000 Hz; pass sample_rate="):
        data.pad_collate([(_clip(0, 1, 4), {"sample_rate": 8000}), (_clip(1, 1, 4), {"sample_rate": 16000})])
    with pytest.raises(ValueError, match="item 0 is a str"):
        data.pad_collate(["a.wav"])
    with pytest.raises(ValueError, match=r"item 0 has a waveform of shape \(1, 1, 4\)"):
        data.pad_collate([torch.zeros(1, 1, 4)])


# ---------------------------------------------------------------------------------------------- seeds
def test_derive_seed_is_blake2b_of_the_three_ints():
    expected = int.from_bytes(hashlib.blake2b(b"7\x003\x0011", digest_size=8).digest(), "little") >> 1
    assert data.derive_seed(7, 3, 11) == expected < 2**63
    assert len({data.derive_seed(0, e, i) for e in range(4) for i in range(50)}) == 200
    with pytest.raises(ValueError, match="epoch"):
        data.derive_seed(0, -1, 0)
    with pytest.raises(ValueError, match="index must be an integer"):
        data.derive_seed(0, 0, 1.5)
    g = data.batch_generator(7, 3, 11, "cpu")
    assert g.device.type == "cpu" and g.initial_seed() == expected


# ---------------------------------------------------------------------------------------------- AugmentedDataset
def _pipe() -> an.Compose:
    return an.Compose([an.WhiteNoise(0, 20), an.Gain(-6, 6)])


def _batches(ds, num_workers, epochs=(0,), **kwargs):
    loader = DataLoader(ds, batch_size=2, num_workers=num_workers, collate_fn=data.pad_collate, **kwargs)
    out = []
    for e in epochs:
        ds.set_epoch(e)
        out.append([batch for batch in loader])
    return out


def test_augmented_item_is_the_pipeline_seeded_from_seed_epoch_index(folder):
    base = data.AudioFolder(folder)
    ds = data.AugmentedDataset(base, _pipe(), seed=5)
    ds.set_epoch(2)
    y, meta = ds[3]
    x, meta0 = base[3]
    assert meta == meta0 and y.shape == x.shape
    expected = _pipe()(x, None, torch.Generator().manual_seed(data.derive_seed(5, 2, 3)))
    assert torch.equal(y, expected) and not torch.equal(y, x)


def test_dataloader_with_0_1_2_workers_gives_identical_tensors(folder):
    ds = data.AugmentedDataset(data.AudioFolder(folder), _pipe(), seed=1)
    runs = [_batches(ds, w, epochs=(0, 1)) for w in (0, 1, 2)]
    for run in runs[1:]:
        for epoch_ref, epoch in zip(runs[0], run):
            assert len(epoch) == len(epoch_ref) == 3
            for (x0, l0, m0), (x, l, m) in zip(epoch_ref, epoch):
                assert torch.equal(x, x0) and torch.equal(l, l0) and m == m0
    for (x0, l0, _), (x1, l1, _) in zip(*runs[0]):  # epochs differ, on valid samples, padding stays zero
        assert torch.equal(l0, l1) and not torch.equal(x0, x1)
        for k, n in enumerate(l0.tolist()):
            assert torch.count_nonzero(x0[k, n:]) == 0 and torch.count_nonzero(x1[k, n:]) == 0


@pytest.mark.parametrize("context", [None, "spawn"])
def test_set_epoch_reaches_persistent_workers(folder, context):
    ds = data.AugmentedDataset(data.AudioFolder(folder), _pipe(), seed=1)
    reference = _batches(ds, 0, epochs=(0, 1, 0))
    persistent = _batches(ds, 2 if context is None else 1, epochs=(0, 1, 0), persistent_workers=True,
                          multiprocessing_context=context)
    for ref, got in zip(reference, persistent):
        assert all(torch.equal(a[0], b[0]) for a, b in zip(ref, got))
    assert not torch.equal(persistent[0][0][0], persistent[1][0][0])


def test_same_seed_epoch_index_is_independent_of_access_order_and_shuffling(folder):
    base = data.AudioFolder(folder)
    forward = data.AugmentedDataset(base, _pipe(), seed=3)
    backward = data.AugmentedDataset(base, _pipe(), seed=3)
    a = [forward[i][0] for i in range(len(base))]
    b = [backward[i][0] for i in reversed(range(len(base)))][::-1]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    loader = DataLoader(forward, batch_size=1, shuffle=True, collate_fn=data.pad_collate,
                        generator=torch.Generator().manual_seed(0))
    order = [meta[0]["relative_path"] for _, _, meta in loader]
    assert order != base.files  # really shuffled
    by_path = {meta[0]["relative_path"]: x[0] for x, _, meta in loader}
    assert all(torch.equal(by_path[rel], a[i][0]) for i, rel in enumerate(base.files))
    other_seed = data.AugmentedDataset(base, _pipe(), seed=4)
    assert not torch.equal(other_seed[0][0], a[0])


def test_multichannel_item_gets_one_snr_and_gain_for_all_channels(tmp_path):
    t = torch.arange(4000) / SR
    left = 0.5 * torch.sin(2 * math.pi * 220 * t)
    io.save(tmp_path / "st.wav", torch.stack([left, 0.1 * left]), SR, subtype="FLOAT")  # right 20 dB quieter
    ds = data.AugmentedDataset(data.AudioFolder(tmp_path), an.Compose([an.WhiteNoise(0, 20)]), return_params=True)
    x, _ = data.AudioFolder(tmp_path)[0]
    y, meta, records = ds[0]
    assert y.shape == (2, 4000) and len(records) == 1 and records[0]["transform"] == "WhiteNoise"
    noise = y - x
    assert float(snr_db(x[None], noise[None])) == pytest.approx(records[0]["snr_db"], abs=0.01)
    ratio = float(noise[0].pow(2).mean() / noise[1].pow(2).mean())
    assert 0.8 < ratio < 1.25  # one gain for the example; per-channel SNRs would make this 100


def test_augmented_dataset_item_shapes_and_records(tmp_path):
    base = [torch.ones(1, 50), torch.ones(50), (torch.ones(1, 30), 7)]
    ds = data.AugmentedDataset(base, an.Compose([an.WhiteNoise(10, 10)]), return_params=True)
    y, rec = ds[0]
    assert y.shape == (1, 50) and rec[0]["snr_db"] == pytest.approx(10.0)
    assert ds[1][0].shape == (50,)
    y, label, rec = ds[2]
    assert y.shape == (1, 30) and label == 7 and rec[0]["applied"]
    assert float(snr_db(torch.ones(1, 30), y - 1)) == pytest.approx(10.0, abs=0.01)
    x, lengths, labels, records = data.pad_collate([ds[2], ds[2]])
    assert labels.tolist() == [7, 7] and len(records) == 2 and records[0][0]["transform"] == "WhiteNoise"


def test_augmented_dataset_argument_errors():
    with pytest.raises(ValueError, match=r"return_params=True needs an audionoise injector or pipeline.*Identity"):
        data.AugmentedDataset([torch.ones(1, 10)], torch.nn.Identity(), return_params=True)
    _, records = data.AugmentedDataset([torch.ones(1, 10)], an.WhiteNoise(0, 10), return_params=True)[0]
    assert records[0]["transform"] == "WhiteNoise"  # a single injector gives records too (the plan API)
    with pytest.raises(ValueError, match="spectrogram"):
        data.AugmentedDataset([torch.ones(1, 10)], an.Compose([an.SpecTimeMask(3)]))
    ds = data.AugmentedDataset([torch.ones(1, 10)], an.WhiteNoise(0, 10))
    with pytest.raises(ValueError, match="epoch"):
        ds.set_epoch(-1)
    with pytest.raises(ValueError, match="seed must be an integer"):
        data.AugmentedDataset([torch.ones(1, 10)], an.WhiteNoise(0, 10), seed="a")


def test_set_epoch_is_forwarded_to_the_wrapped_dataset(folder):
    inner = data.AugmentedDataset(data.AudioFolder(folder), an.Gain(-6, 6))
    outer = data.AugmentedDataset(inner, an.WhiteNoise(0, 20))
    outer.set_epoch(4)
    assert (outer.epoch, inner.epoch) == (4, 4)


# ---------------------------------------------------------------------------------------------- per batch
def test_per_batch_augmentation_with_batch_generator(folder):
    pipe = _pipe()
    loader = DataLoader(data.AudioFolder(folder), batch_size=3, collate_fn=data.pad_collate)
    for b, (x, lengths, _) in enumerate(loader):
        y = pipe(x, lengths, data.batch_generator(9, 1, b, "cpu"))
        again = pipe(x, lengths, torch.Generator().manual_seed(data.derive_seed(9, 1, b)))
        assert torch.equal(y, again) and y.shape == x.shape
        assert not torch.equal(y, pipe(x, lengths, data.batch_generator(9, 2, b, "cpu")))
        for k, n in enumerate(lengths.tolist()):
            assert torch.count_nonzero(y[k, n:]) == 0


def _speed_pipe() -> an.Compose:
    return an.Compose([an.SpeedPerturb(factors=(0.9, 1.1), sample_rate=SR), an.WhiteNoise(10, 30)])


def test_length_changing_pipeline_gives_items_of_their_new_length(folder):
    base = data.AudioFolder(folder)
    ds = data.AugmentedDataset(base, _speed_pipe(), seed=2, return_params=True)
    plain = data.AugmentedDataset(base, _speed_pipe(), seed=2)
    factors = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        plain.set_epoch(epoch)
        for i in range(len(base)):
            x, meta0 = base[i]
            y, meta, records = ds[i]
            factor = records[0]["factor"]
            factors.append(factor)
            assert meta == meta0 and y.shape[0] == 1 and abs(y.shape[-1] - round(x.shape[-1] / factor)) <= 1
            assert records[1]["transform"] == "WhiteNoise"
            ref_y, ref_lengths, ref_records = _speed_pipe()(x, None, torch.Generator().manual_seed(
                data.derive_seed(2, epoch, i)), return_params=True)
            assert torch.equal(y, ref_y[..., :int(ref_lengths[0])]) and records == ref_records[0]
            assert torch.equal(plain[i][0], y)  # the same waveform without the records
    assert set(factors) == {0.9, 1.1}  # both speeds met: really shorter and longer items


def test_length_changing_pipeline_through_dataloaders_with_0_and_2_workers(folder):
    base = data.AudioFolder(folder)
    ds = data.AugmentedDataset(base, _speed_pipe(), seed=2, return_params=True)
    runs = [_batches(ds, w, epochs=(0, 1)) for w in (0, 2)]
    for epoch_ref, epoch in zip(*runs):
        assert len(epoch) == len(epoch_ref) == 3
        for (x0, l0, m0, r0), (x, l, m, r) in zip(epoch_ref, epoch):
            assert torch.equal(x, x0) and torch.equal(l, l0) and m == m0 and r == r0
    for e, epoch in enumerate(runs[0]):
        ds.set_epoch(e)
        for b, (x, lengths, _, records) in enumerate(epoch):
            for k, n in enumerate(lengths.tolist()):
                i = 2 * b + k
                assert n == ds[i][0].shape[-1]  # pad_collate's lengths are the items' new lengths
                assert abs(n - round(base[i][0].shape[-1] / records[k][0]["factor"])) <= 1
                assert torch.count_nonzero(x[k, n:]) == 0


def test_length_changing_pipeline_keeps_the_item_layout():
    pipe = an.SpeedPerturb(factors=(1.1,), sample_rate=SR)
    ds = data.AugmentedDataset([torch.randn(2, 1100), torch.randn(1100), (torch.randn(1, 1100), 3)], pipe)
    assert ds[0].shape == (2, 1000) and ds[1].shape == (1000,)
    y, label = ds[2]
    assert y.shape == (1, 1000) and label == 3
