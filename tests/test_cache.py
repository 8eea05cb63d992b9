"""`audionoise cache list|prune` and audionoise.corpora.cache: sizes, ages (refreshed on use), pruning by age and size."""

import os
import subprocess
import sys
import time

import pytest
import torch

import audionoise as an
from audionoise import io
from audionoise.corpora.cache import STALE_S, list_cache, prune_cache
from audionoise.cli import main as cli_main

DAY = 86400.0


def _bank(folder, cache, seconds=0.5, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    io.save(folder / "n.wav", 0.1 * torch.randn(1, int(16000 * seconds), generator=torch.Generator().manual_seed(seed)),
            16000, subtype="FLOAT")
    an.NoiseBank.from_source(folder, 16000, cache_dir=cache)
    return folder


def _age(entry, days):
    t = time.time() - days * DAY
    for path in entry.files:
        os.utime(path, (t, t))


def test_list_then_prune_by_age_and_size(tmp_path):
    cache = tmp_path / "cache"
    assert list_cache(cache) == []
    _bank(tmp_path / "a", cache, 0.5, 1)
    _bank(tmp_path / "b", cache, 1.0, 2)
    _bank(tmp_path / "c", cache, 2.0, 3)
    entries = list_cache(cache)
    assert len(entries) == 3 and all(e.complete and e.clips == 1 and e.sample_rate == 16000 for e in entries)
    by_source = {os.path.basename(e.source.strip("'")): e for e in entries}
    assert by_source["c"].seconds == pytest.approx(2.0, abs=0.02)  # less the loop seam's cross-fade
    assert by_source["c"].size == sum(p.stat().st_size for p in by_source["c"].files) > 4 * 31000
    _age(by_source["a"], 40)
    _age(by_source["b"], 10)
    with pytest.raises(ValueError, match="say what to prune"):
        prune_cache(cache)
    assert [e.key for e in prune_cache(cache, older_than_s=30 * DAY, dry_run=True)] == [by_source["a"].key]
    assert len(list_cache(cache)) == 3  # dry run: nothing removed
    assert [e.key for e in prune_cache(cache, older_than_s=30 * DAY)] == [by_source["a"].key]
    # keep under the size of c alone: b (least recently used) goes, c stays
    removed = prune_cache(cache, max_bytes=by_source["c"].size)
    assert [e.key for e in removed] == [by_source["b"].key]
    assert [e.key for e in list_cache(cache)] == [by_source["c"].key]
    assert not any(p.name.startswith("noisebank-" + by_source["b"].key) for p in cache.iterdir())


def test_a_use_refreshes_the_age_and_stale_leftovers_are_pruned(tmp_path):
    cache = tmp_path / "cache"
    folder = _bank(tmp_path / "a", cache)
    (entry,) = list_cache(cache)
    _age(entry, 40)
    an.NoiseBank.from_source(folder, 16000, cache_dir=cache)  # served from the cache: its last use is now
    assert list_cache(cache)[0].age_s() < 60
    leftover = cache / "noisebank-0123abcd.npy"  # an .npy whose writer died before its .json
    leftover.write_bytes(b"x" * 100)
    fresh = [e for e in list_cache(cache) if not e.complete]
    assert len(fresh) == 1 and fresh[0].size == 100
    assert prune_cache(cache, older_than_s=30 * DAY) == []  # a writer may still be at work: kept for an hour
    t = time.time() - 2 * STALE_S
    os.utime(leftover, (t, t))
    assert [e.key for e in prune_cache(cache, older_than_s=30 * DAY)] == ["0123abcd"]
    assert len(list_cache(cache)) == 1


def test_cli_list_and_prune(tmp_path, capsys):
    cache = tmp_path / "cache"
    _bank(tmp_path / "a", cache)
    assert cli_main(["cache", "list", "--dir", str(cache)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{cache}: 1 bank(s), ") and "1 clip(s), 0.0 min at 16000 Hz, from" in out[1]
    assert cli_main(["cache", "prune", "--dir", str(cache), "--max-size", "1k", "--dry-run"]) == 0
    assert "would remove 1 bank(s)" in capsys.readouterr().out and len(list_cache(cache)) == 1
    assert cli_main(["cache", "prune", "--dir", str(cache)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit):
        cli_main(["cache", "prune", "--dir", str(cache), "--older-than", "soon"])
    assert "'soon' is not an age" in capsys.readouterr().err
    assert cli_main(["cache", "prune", "--dir", str(cache), "--all"]) == 0
    assert "removed 1 bank(s)" in capsys.readouterr().out and list_cache(cache) == []


def test_cache_list_does_not_import_torch(tmp_path):
    code = ("import sys\nfrom audionoise.cli import main\n"
            f"main(['cache', 'list', '--dir', {str(tmp_path)!r}])\nprint('torch' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "False" and "0 bank(s), 0 B" in out.stdout


def test_generated_training_noise_is_listed_and_pruned_with_the_banks(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("AUDIONOISE_CACHE_DIR", raising=False)
    from audionoise.synth.noise_bank import default_bank_dir

    bank = default_bank_dir(0)
    assert bank.parent == tmp_path / "xdg" / "audionoise" / "training_noise"
    bank.mkdir(parents=True)
    io.save(bank / "rain_00.wav", torch.zeros(1, 1600), 16000)
    (bank / "summary.json").write_text('{"seconds_of_audio": 0.1}')
    (bank / "VERSION.json").write_text("{}")
    (bank.parent / ".lock").write_text("")  # the builders' lock file: not an entry
    _bank(tmp_path / "a", None)  # the default noise-bank cache, under the same XDG folder
    entries = list_cache()
    assert sorted(e.key.split("/")[0] for e in entries) == sorted(["training_noise", entries[0].key.split("/")[0]])
    (gen,) = [e for e in entries if e.key == f"training_noise/{bank.name}"]
    assert gen.complete and gen.clips == 1 and gen.seconds == 0.1 and gen.size == sum(
        p.stat().st_size for p in bank.iterdir())
    os.utime(bank / "VERSION.json", (time.time() - 40 * DAY,) * 2)  # its last use (a use refreshes it)
    assert [e.key for e in prune_cache(older_than_s=30 * DAY)] == [gen.key]
    assert not bank.exists() and len(list_cache()) == 1
