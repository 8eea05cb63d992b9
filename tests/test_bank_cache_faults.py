"""A damaged noise-bank cache is never trusted: each corruption below (same size, so only a checksum can tell) is
found at open or at the first read of the damaged clip, rebuilt with one warning, and no NaN/Inf or foreign sample
ever leaves the bank. One builder per bank; killed builds' temporary files are removed by the next build."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

import audionoise as an
from audionoise.transforms import _bank_cache as cache

SR = 16000
CLIP = 3 * cache.BLOCK_SAMPLES  # every clip spans several checksum blocks


def _corpus(root, seed):
    rng = np.random.default_rng(seed)
    root.mkdir()
    for i in range(3):
        sf.write(root / f"n{i}.wav", (0.1 * rng.standard_normal(CLIP + 1000 * i)).astype(np.float32), SR,
                 subtype="FLOAT")
    return root


@pytest.fixture
def setup(tmp_path):
    corpus = _corpus(tmp_path / "noise", 0)
    reference = an.NoiseBank.from_source(str(corpus), SR, cache_dir=False)
    bank = an.NoiseBank.from_source(str(corpus), SR, cache_dir=tmp_path / "cache")
    npy = bank.cache_file
    del bank
    return corpus, tmp_path / "cache", npy, reference


def _reopen(corpus, cache_dir):
    return an.NoiseBank.from_source(str(corpus), SR, cache_dir=cache_dir)


def _every_window(bank):
    clips = torch.arange(len(bank)).repeat_interleave(2)
    offsets = torch.tensor([0, 50_000] * len(bank))
    return bank.windows(clips, offsets, 2 * CLIP)  # loops: every sample of every clip


def _offset(npy):
    return np.load(npy, mmap_mode="r").offset


def _write_at(npy, pos, data: bytes):
    fd = os.open(npy, os.O_WRONLY)
    try:
        os.pwrite(fd, data, pos)
    finally:
        os.close(fd)


def _rebuilt_once(corpus, cache_dir, reference, match):
    with pytest.warns(UserWarning, match=match) as record:
        bank = _reopen(corpus, cache_dir)
        out = _every_window(bank)
    assert sum("rebuild" in str(w.message) for w in record) == 1
    assert torch.isfinite(out).all() and torch.equal(out, _every_window(reference))
    assert torch.equal(bank.data, reference.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache passes every check: no second warning
        assert torch.equal(_every_window(_reopen(corpus, cache_dir)), out)


def test_a_good_cache_opens_without_warning_and_reads_the_same(setup):
    corpus, cache_dir, _, reference = setup
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bank = _reopen(corpus, cache_dir)
        assert torch.equal(_every_window(bank), _every_window(reference))
    assert bank._clip_ok.all() and bank._check.ok.all()


def test_flipped_bytes_are_found_at_first_read_and_rebuilt(setup):
    corpus, cache_dir, npy, reference = setup
    pos = _offset(npy) + 4 * (CLIP + 12_345)  # inside clip 1, bytes changed, size kept
    with open(npy, "rb") as fh:
        fh.seek(pos)
        old = fh.read(3)
    _write_at(npy, pos, bytes(b ^ 0x10 for b in old))
    _rebuilt_once(corpus, cache_dir, reference, "damaged .*block .*clip 'n1.wav'")


def test_nan_fill_never_reaches_the_output(setup):
    corpus, cache_dir, npy, reference = setup
    nan = np.full(5000, np.nan, dtype="<f4").tobytes()
    _write_at(npy, _offset(npy) + 4 * 100, nan)
    _rebuilt_once(corpus, cache_dir, reference, "damaged")


def test_nan_fill_through_background_noise(setup):
    corpus, cache_dir, npy, _ = setup
    _write_at(npy, _offset(npy), np.full(3 * CLIP, np.inf, dtype="<f4").tobytes())
    t = an.BackgroundNoise(str(corpus), 0.0, 10.0, sample_rate=SR, cache_dir=cache_dir)
    x = 0.1 * torch.randn(4, 1, SR)
    with pytest.warns(UserWarning, match="damaged"):
        y = t(x, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(y).all()


def test_nan_fill_through_background_noise_one_example_at_a_time(setup):
    """The per-item shortcut (one example: the Dataset pattern) reads the bank through the same checked window."""
    corpus, cache_dir, npy, _ = setup
    _write_at(npy, _offset(npy), np.full(3 * CLIP + 2000, np.inf, dtype="<f4").tobytes())  # every clip damaged
    t = an.BackgroundNoise(str(corpus), 0.0, 10.0, sample_rate=SR, cache_dir=cache_dir)
    with pytest.warns(UserWarning, match="damaged"):
        ys = [t(0.1 * torch.randn(1, SR), generator=torch.Generator().manual_seed(i)) for i in range(6)]
    assert all(torch.isfinite(y).all() for y in ys)


def test_another_banks_npy_behind_a_symlink_is_refused_at_open(setup, tmp_path):
    corpus, cache_dir, npy, reference = setup
    other = an.NoiseBank.from_source(str(_corpus(tmp_path / "other", 1)), SR, cache_dir=tmp_path / "cache2")
    assert other.data.numel() == reference.data.numel()  # same size: only the token tells them apart
    os.unlink(npy)
    os.symlink(other.cache_file, npy)
    _rebuilt_once(corpus, cache_dir, reference, "another build")


@pytest.mark.parametrize("edit", ["swap_lengths", "names", "samples", "blocks"])
def test_edited_metadata_is_refused(setup, edit):
    corpus, cache_dir, npy, reference = setup
    meta_path = npy[:-4] + ".json"
    meta = json.loads(open(meta_path).read())
    if edit == "swap_lengths":  # same total: the clips would be cut at the wrong places
        meta["lengths"] = meta["lengths"][::-1]
    elif edit == "names":
        meta["names"][0] = "other.wav"
    elif edit == "samples":
        meta["samples"] -= 1
    else:
        meta["blocks"] = "00" * (len(meta["blocks"]) // 2)
    open(meta_path, "w").write(json.dumps(meta))
    # the block digests are not signed: an edited one fails its block's check at the first read instead
    _rebuilt_once(corpus, cache_dir, reference, "is damaged" if edit == "blocks" else "unreadable or damaged")


def test_truncated_npy_is_refused_at_open(setup):
    corpus, cache_dir, npy, reference = setup
    os.truncate(npy, os.path.getsize(npy) - 8)  # the token gone: the samples are all there
    _rebuilt_once(corpus, cache_dir, reference, "unreadable or damaged")


def test_moving_a_bank_checks_every_clip_first(setup):
    corpus, cache_dir, npy, reference = setup
    _write_at(npy, _offset(npy) + 4 * (2 * CLIP + 70_000), np.full(10, np.nan, dtype="<f4").tobytes())
    bank = _reopen(corpus, cache_dir)
    with pytest.warns(UserWarning, match="damaged .*clip 'n2.wav'"):
        moved = bank.double()  # the same path as .to("cuda"): copies every sample out of the map
    assert torch.isfinite(moved.data).all() and torch.equal(moved.data, reference.data.double())


def test_a_pickled_bank_rechecks_in_its_new_process(setup):
    corpus, cache_dir, npy, reference = setup
    blob = pickle.dumps(_reopen(corpus, cache_dir))
    _write_at(npy, _offset(npy) + 4 * 7, np.full(4, np.nan, dtype="<f4").tobytes())
    clone = pickle.loads(blob)
    with pytest.warns(UserWarning, match="damaged"):
        assert torch.equal(_every_window(clone), _every_window(reference))


def test_killed_builds_temporary_files_are_removed_by_the_next_build(setup):
    corpus, cache_dir, npy, _ = setup
    left = [os.path.join(cache_dir, f".{os.path.basename(npy)}.0000abcd12345678.tmp"),
            os.path.join(cache_dir, f".{os.path.basename(npy)[:-4]}.json.0000abcd87654321.tmp")]
    for p in left:
        open(p, "wb").write(b"\0" * 1000)
    unrelated = os.path.join(cache_dir, ".noisebank-0123.npy.0000abcd12345678.tmp")
    open(unrelated, "wb").close()
    os.unlink(npy)  # the bank must be built again
    with pytest.warns(UserWarning, match="unreadable or damaged"):
        _reopen(corpus, cache_dir)
    assert not any(os.path.exists(p) for p in left) and os.path.exists(unrelated)


def test_one_builder_at_a_time_the_other_waits_then_maps_its_file(setup):
    corpus, cache_dir, npy, reference = setup
    key = os.path.basename(npy)[len("noisebank-"):-4]
    os.unlink(npy[:-4] + ".json")
    os.unlink(npy)
    got = []
    with cache.build_lock(cache_dir, key):
        waiter = threading.Thread(target=lambda: got.append(_reopen(corpus, cache_dir)))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and not os.path.exists(npy)  # waiting for the lock, not building
    waiter.join(60)
    assert torch.equal(got[0].data, reference.data) and os.path.exists(npy)
    assert sorted(os.listdir(cache_dir)) == sorted([os.path.basename(npy), os.path.basename(npy)[:-4] + ".json"])


def test_prune_leaves_the_temporary_files_of_a_build_in_progress(tmp_path):
    from audionoise.corpora.cache import prune_cache

    key = "ab" * 16
    tmp = tmp_path / f".noisebank-{key}.npy.0000abcd12345678.tmp"
    old = time.time() - 7200
    with cache.build_lock(tmp_path, key):  # the builder's file, older than cache.STALE_S (a long build)
        tmp.write_bytes(b"\0" * 100)
        os.utime(tmp, (old, old))
        assert prune_cache(tmp_path, older_than_s=0) == [] and tmp.exists()
    assert [e.key for e in prune_cache(tmp_path, older_than_s=0)] == [key] and not tmp.exists()
