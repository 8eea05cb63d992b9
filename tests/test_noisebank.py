"""NoiseBank at corpus scale: circular windows by index arithmetic, seamless loops, sources, on-disk cache."""

import json
import os
import pickle
import warnings

import numpy as np
import pytest
import torch

import audionoise as an
from audionoise import io as aio
from audionoise.functional.loop import (_gather_windows, equal_power_fades, loop_crossfade, loop_windows,
                                        make_loopable)

SR = 16000
# the corpus fixture holds a silent file on purpose; tests that check the warning catch it themselves
pytestmark = pytest.mark.filterwarnings("ignore::audionoise.NoiseBankWarning")


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def reference_window(clip: np.ndarray, crossfade: int, offset: int, length: int) -> np.ndarray:
    """Slow reference: loop the cross-faded clip sample by sample (float32 arithmetic, one element at a time)."""
    n = clip.shape[0]
    fade = min(crossfade, n // 2)
    m = n - fade
    fi, fo = (f.numpy() for f in equal_power_fades(fade))
    out = np.empty(length, np.float32)
    for j in range(length):
        i = (offset + j) % m
        out[j] = clip[i] if i >= fade else np.float32(fi[i] * clip[i]) + np.float32(fo[i] * clip[m + i])
    return out


def write(path, wave, rate=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    aio.save(path, torch.as_tensor(wave, dtype=torch.float32).reshape(1, -1), rate)
    return path


def noise(n, seed):
    return 0.3 * torch.rand(n, generator=seeded(seed)) - 0.15


# ----------------------------------------------------------------------------------------------- windows
@pytest.mark.parametrize("crossfade_s", [0.0, 0.01])
def test_windows_equal_a_slow_reference_bit_for_bit(crossfade_s):
    sizes = [1, 2, 3, 50, 333, 700, 5000]
    clips = [noise(n, i) for i, n in enumerate(sizes)]
    bank = an.NoiseBank.from_tensors(clips, SR, crossfade_s=crossfade_s)
    fade = round(crossfade_s * SR)
    stored = bank.lengths.tolist()
    assert stored == [n - loop_crossfade(n, fade) for n in sizes]
    cases = []  # (clip, offset): start, end of the clip, just before the end, and beyond one period
    for k, m in enumerate(stored):
        cases += [(k, 0), (k, m - 1), (k, max(m - 2, 0)), (k, m // 2), (k, 3 * m + 1)]
    clip = torch.tensor([c for c, _ in cases])
    offset = torch.tensor([o for _, o in cases])
    for length in (1, 7, 333, 701, 12000, int(bank.data.numel()) + 5):  # the last: longer than the whole bank
        ref = np.stack([reference_window(clips[c].numpy(), fade, o, length) for c, o in cases])
        batched = bank.windows(clip, offset, length)
        assert batched.dtype == torch.float32 and np.array_equal(batched.numpy(), ref)
        for row in (0, 6, len(cases) - 1):  # one at a time (the scalar path)
            one = bank.windows(clip[row:row + 1], offset[row:row + 1], length)
            assert np.array_equal(one.numpy(), ref[row:row + 1])
        # the device path (one gather of computed indices) does the same on any device
        gathered = _gather_windows(bank.data, bank.starts, bank.lengths, clip, offset, length)
        assert np.array_equal(gathered.numpy(), ref)


def test_windows_make_no_copy_of_the_bank(tmp_path):
    clips = [noise(20000, i) for i in range(4)]
    for i, c in enumerate(clips):
        write(tmp_path / "n" / f"{i}.wav", c)
    bank = an.NoiseBank.from_source(tmp_path / "n", SR, cache_dir=tmp_path / "cache")
    ptr = bank.data.data_ptr()
    for length in range(100, 60000, 3001):  # many window lengths: nothing is cached per length
        bank.windows(torch.tensor([0, 3, 1]), torch.tensor([19000, 5, 12345]), length)
    tensors = [v for v in vars(bank).values() if isinstance(v, torch.Tensor)] + list(bank.buffers())
    assert bank.data.data_ptr() == ptr
    assert sum(t.numel() * t.element_size() for t in tensors) <= bank.data.numel() * 4 + 1024


def test_equal_power_fades_and_loopable_clip_closed_form():
    fi, fo = equal_power_fades(64)
    assert fi[0] == 0 and fo[0] == 1 and torch.allclose(fi ** 2 + fo ** 2, torch.ones(64), atol=1e-6)
    assert bool((fi[1:] > fi[:-1]).all()) and bool((fo[1:] < fo[:-1]).all())
    assert torch.allclose(fi, torch.sin(torch.arange(64) * torch.pi / 128), atol=1e-7)
    x = torch.arange(10.0)
    y = make_loopable(x, 3)  # m = 7: y[i] = fi[i] x[i] + fo[i] x[7 + i] for i < 3, then x[3:7]
    f_in, f_out = equal_power_fades(3)
    assert torch.equal(y[:3], x[:3] * f_in + x[7:] * f_out) and torch.equal(y[3:], x[3:7]) and y[0] == 7
    assert torch.equal(make_loopable(x, 0), x)
    with pytest.raises(ValueError, match=r"crossfade \(6\) must lie in \[0, 5\]"):
        make_loopable(x, 6)
    with pytest.raises(ValueError, match="crossfade_s must be a number of seconds >= 0"):
        an.NoiseBank.from_tensors([x], SR, crossfade_s=-1)


def test_looped_tone_has_no_seam_steeper_than_the_clip():
    n = round(0.2037 * SR)  # 3259 samples: 89.6 cycles of 440 Hz, so a butt join jumps mid-cycle
    tone = torch.sin(2 * torch.pi * 440 * torch.arange(n) / SR)
    own = float(tone.diff().abs().max())
    for crossfade_s, smooth in ((0.01, True), (0.0, False)):
        bank = an.NoiseBank.from_tensors([tone], SR, crossfade_s=crossfade_s)
        m = int(bank.lengths[0])
        for offset in (0, 1234, m - 1):
            w = bank.windows(torch.tensor([0]), torch.tensor([offset]), 2 * SR)[0]
            seams = [j for j in range(1, w.numel()) if (offset + j) % m == 0]
            assert len(seams) >= 9
            step = float((w[seams] - w[[j - 1 for j in seams]]).abs().max())
            assert (step <= 1.05 * own) == smooth, (crossfade_s, step / own)


def test_short_clips_get_half_their_length_as_cross_fade():
    bank = an.NoiseBank.from_tensors([noise(100, 0), noise(1, 1)], SR)  # 160-sample fade asked
    assert bank.lengths.tolist() == [50, 1] and bank.crossfade == 160


# ----------------------------------------------------------------------------------------------- sources
@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    write(root / "a.wav", noise(8000, 1))
    write(root / "sub" / "b.flac", noise(44100, 2), 44100)
    write(root / "c.wav", noise(12000, 3))
    write(root / "silent.wav", torch.zeros(4000))
    (root / "notes.txt").write_text("not audio")
    return root


def test_folder_list_manifest_glob_and_lists_of_them(corpus, tmp_path):
    lst = tmp_path / "lists" / "noise.txt"
    lst.parent.mkdir()
    lst.write_text(f"# noise clips\n\n../corpus/a.wav\n  {corpus / 'c.wav'}  \n../corpus/missing.wav\n")
    man = tmp_path / "noise.jsonl"
    man.write_text("\n".join([
        json.dumps({"audio_filepath": "corpus/c.wav", "offset": 0.25, "duration": 0.25}),
        json.dumps({"audio_filepath": "corpus/a.wav"}),
        "{not json",
        json.dumps({"duration": 1.0}),
        json.dumps({"audio_filepath": "corpus/a.wav", "offset": -1}),
        json.dumps({"audio_filepath": "corpus/gone.wav"}),
        "",
    ]))
    with pytest.warns(an.NoiseBankWarning) as caught:
        folder = an.NoiseBank.from_source(corpus, SR, cache_dir=False)
    assert folder.names == ["a.wav", "c.wav", "sub/b.flac"] and [str(w.message) for w in caught] == [
        "noise bank: skipped silent.wav: all-zero (digital silence)"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bank = an.BackgroundNoise([str(lst), str(man), str(corpus / "*.wav")], 0, 10, sample_rate=SR,
                                  cache_dir=False).bank
    messages = [str(w.message) for w in caught if issubclass(w.category, an.NoiseBankWarning)]
    assert len(messages) == len(bank.skipped) == 6  # one line per bad entry, each naming it and why
    assert any("missing.wav: no such file" in m and "line 5" in m for m in messages)
    assert any("line 3 of" in m and "not valid JSON" in m for m in messages)
    assert any("line 4 of" in m and "audio_filepath" in m for m in messages)
    assert any("corpus/a.wav: bad \"offset\" -1" in m for m in messages)
    assert any("corpus/gone.wav: no such file" in m for m in messages)
    assert any("silent.wav: all-zero" in m for m in messages)
    assert bank.names[:4] == ["../corpus/a.wav", str(corpus / "c.wav"), "corpus/c.wav@0.25s+0.25s", "corpus/a.wav"]
    assert bank.names[4:] == [str(corpus / "a.wav"), str(corpus / "c.wav")]  # the glob, sorted (silent skipped)
    segment = aio.load(corpus / "c.wav", SR, mono=True, offset=0.25, duration=0.25)[0][0]
    assert segment.numel() == 4000
    k = bank.names.index("corpus/c.wav@0.25s+0.25s")
    s, m = int(bank.starts[k]), int(bank.lengths[k])
    assert torch.equal(bank.data[s:s + m], make_loopable(segment, 160))
    b = folder.names.index("sub/b.flac")  # 1 s at 44.1 kHz, resampled once
    assert int(folder.lengths[b]) == SR - 160


def test_source_errors_say_what_was_tried(tmp_path, corpus):
    with pytest.raises(ValueError, match="does not exist; pass a folder, a text file"):
        an.NoiseBank.from_source(tmp_path / "nowhere", SR)
    with pytest.raises(ValueError, match="matches no audio file"):
        an.NoiseBank.from_source(str(tmp_path / "*.flac"), SR)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no audio file"):
        an.NoiseBank.from_source(tmp_path / "empty", SR)
    bad = tmp_path / "bad.txt"
    bad.write_text("gone1.wav\ngone2.wav\n")
    with pytest.raises(ValueError, match=r"holds no usable clip: 2 entries tried, 2 skipped \(gone1.wav: no such"):
        with pytest.warns(an.NoiseBankWarning):
            an.NoiseBank.from_source(bad, SR)
    with pytest.raises(ValueError, match="is not a path"):
        an.NoiseBank.from_source([corpus, 3], SR)
    with pytest.raises(ValueError, match="max_clips must be a positive integer"):
        an.NoiseBank.from_source(corpus, SR, max_clips=0)


def test_max_clips_is_a_fixed_random_subset(tmp_path):
    for i in range(12):
        write(tmp_path / "many" / f"{i:02d}.wav", noise(2000, i))
    pick = [an.NoiseBank.from_source(tmp_path / "many", SR, cache_dir=False, max_clips=4, max_clips_seed=s).names
            for s in (0, 0, 1)]
    assert len(pick[0]) == 4 and pick[0] == pick[1] and pick[0] != pick[2] and pick[0] == sorted(pick[0])
    t = an.BackgroundNoise(str(tmp_path / "many"), 0, 1, sample_rate=SR, max_clips=4, cache_dir=False)
    again = an.load_pipeline({"transforms": [{"name": "BackgroundNoise", **t.config()}]}).transforms[0]
    assert again.bank.names == t.bank.names == pick[0]


# ----------------------------------------------------------------------------------------------- cache
def test_cache_is_memory_mapped_keyed_by_mtime_and_written_atomically(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = an.NoiseBank.from_source(corpus, SR, cache_dir=cache)
    calls = []
    real = aio.load
    monkeypatch.setattr(aio, "load", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    with pytest.warns(an.NoiseBankWarning, match="silent.wav"):  # skipped entries are reported on a hit too
        hit = an.NoiseBank.from_source(corpus, SR, cache_dir=cache)
    assert calls == [] and hit.cache_file == first.cache_file and os.path.isfile(hit.cache_file)
    assert isinstance(np.load(hit.cache_file, mmap_mode="r"), np.memmap)
    assert torch.equal(hit.data, first.data) and hit.names == first.names and hit.skipped == first.skipped
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [os.path.basename(hit.cache_file), os.path.basename(hit.cache_file)[:-4] + ".json"])  # no temp files left
    hit.data[0] += 1.0  # copy-on-write: this process's copy only, never the file (nor other mappings)
    assert float(np.load(hit.cache_file)[0]) == float(first.data[0]) == float(hit.data[0]) - 1.0
    st = os.stat(corpus / "c.wav")
    os.utime(corpus / "c.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))  # touched: decoded again
    an.NoiseBank.from_source(corpus, SR, cache_dir=cache)
    assert len(calls) == 4 and len(list(cache.glob("noisebank-*.npy"))) == 2
    an.NoiseBank.from_source(corpus, 8000, cache_dir=cache)  # another rate: another entry
    assert len(list(cache.glob("noisebank-*.npy"))) == 3


def test_cache_location_default_off_and_unwritable(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIONOISE_CACHE_DIR", str(tmp_path / "env"))
    assert an.NoiseBank.from_source(corpus, SR).cache_file.startswith(str(tmp_path / "env"))
    monkeypatch.delenv("AUDIONOISE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert an.NoiseBank.from_source(corpus, SR).cache_file.startswith(str(tmp_path / "xdg" / "audionoise"))
    off = an.NoiseBank.from_source(corpus, SR, cache_dir=False)
    assert off.cache_file is None and not (tmp_path / "off").exists()
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.warns(UserWarning, match="noise bank cache not written"):
        kept = an.NoiseBank.from_source(corpus, SR, cache_dir=tmp_path / "file" / "cache")
    assert kept.cache_file is None and torch.equal(kept.data, off.data)
    with pytest.raises(ValueError, match="cache_dir must be a folder path, None"):
        an.NoiseBank.from_source(corpus, SR, cache_dir=3)


def test_corrupt_cache_is_rebuilt(corpus, tmp_path):
    cache = tmp_path / "cache"
    good = an.NoiseBank.from_source(corpus, SR, cache_dir=cache)
    meta = next(cache.glob("*.json"))
    meta.write_text("{broken")
    with pytest.warns(UserWarning, match="unreadable"):
        again = an.NoiseBank.from_source(corpus, SR, cache_dir=cache)
    assert torch.equal(again.data, good.data) and json.loads(meta.read_text())["samples"] == good.data.numel()


def test_mapped_bank_pickles_as_its_file_name(corpus, tmp_path):
    bank = an.NoiseBank.from_source(corpus, SR, cache_dir=tmp_path / "cache")
    blob = pickle.dumps(bank)
    assert len(blob) < bank.data.numel() * 4 / 10
    clone = pickle.loads(blob)
    assert clone.cache_file == bank.cache_file and torch.equal(clone.data, bank.data)
    w = (torch.tensor([0, 2]), torch.tensor([100, 7000]), 30000)
    assert torch.equal(clone.windows(*w), bank.windows(*w))
    moved = bank.double()  # no longer the mapped file: pickled by value
    assert len(pickle.dumps(moved)) > bank.data.numel() * 8


def test_progress_of_the_first_build(corpus, tmp_path, capsys, monkeypatch):
    import audionoise.runtime.progress

    an.NoiseBank.from_source(corpus, SR, cache_dir=False)  # not a terminal, a short build: nothing
    assert "noise bank" not in capsys.readouterr().err
    monkeypatch.setattr(audionoise.runtime.progress, "_interactive", lambda file: True)  # as on a terminal: a bar
    an.NoiseBank.from_source(corpus, SR, cache_dir=tmp_path / "cache")
    assert "noise bank" in capsys.readouterr().err
    an.NoiseBank.from_source(corpus, SR, cache_dir=tmp_path / "cache")  # from the cache: nothing to show
    an.NoiseBank.from_source(corpus, SR, cache_dir=False, progress=False)
    assert "noise bank" not in capsys.readouterr().err


def _mapping_rss(path):
    """Resident bytes of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps", encoding="utf-8") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line
                inside = len(head) >= 6 and head[5] == str(path)
            elif inside and head[0] == "Rss:":
                total += int(head[1]) * 1024
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="reads /proc/self/smaps (Linux)")
def test_mapped_bank_keeps_a_bounded_resident_set(tmp_path):
    """Random windows over a mapped bank drop its pages past resident_limit_bytes: the mapping's RSS stays under
    the limit plus one call's windows, where without the limit it grows to the whole bank; windows are unchanged."""
    rng = np.random.default_rng(0)
    (tmp_path / "n").mkdir()
    for i in range(8):  # 8 x 16 s = 8 MB of float32 samples
        aio.save(tmp_path / "n" / f"c{i}.wav", torch.from_numpy(rng.standard_normal((1, 16 * SR)).astype(np.float32) * 0.1), SR,
                 subtype="FLOAT")
    g = torch.Generator().manual_seed(0)

    def sweep(bank):
        clips = torch.randint(0, len(bank), (400, 8), generator=g)
        offsets = torch.randint(0, 16 * SR, (400, 8), generator=g)
        return [bank.windows(c, o, SR) for c, o in zip(clips, offsets)]  # 400 calls x 8 windows of 64 KB

    free = an.NoiseBank.from_source(tmp_path / "n", SR, cache_dir=tmp_path / "cache")
    free.resident_limit_bytes = 1 << 40
    reference = sweep(free)
    bank_bytes = free.data.numel() * 4
    assert _mapping_rss(free.cache_file) > 0.8 * bank_bytes  # the measurement sees the pages: no limit, all resident
    del free
    g.manual_seed(0)
    bank = an.NoiseBank.from_source(tmp_path / "n", SR, cache_dir=tmp_path / "cache")
    bank.resident_limit_bytes = 512 << 10
    peak = 0
    for ref, got in zip(reference, sweep(bank)):
        assert torch.equal(ref, got)
        peak = max(peak, _mapping_rss(bank.cache_file))
    # the limit plus one call's windows as counted (each with what the kernel maps around it), and 1 MB of slack
    assert peak <= bank.resident_limit_bytes + 8 * (SR * 4 + bank.MAP_GRANULE_BYTES) + (1 << 20), peak
    assert peak < 0.4 * bank_bytes, (peak, bank_bytes)
