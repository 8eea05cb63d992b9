"""`audionoise grid`: exact SNR per clip, the same noise window across SNRs, manifests, determinism, resume."""

import json

import numpy as np
import pytest
import torch

from audionoise import NoiseBank, io
from audionoise.cli import main as cli_main
from audionoise.data import AudioManifest
from audionoise.robustness.grid import GridUsageError, make_grid

SR = 16000


@pytest.fixture()
def folders(tmp_path):
    g = torch.Generator().manual_seed(0)
    clean = tmp_path / "clean"
    (clean / "sub").mkdir(parents=True)
    t = torch.arange(12000) / SR
    io.save(clean / "a.wav", (0.3 * torch.sin(2 * torch.pi * 440 * t))[None], SR, subtype="FLOAT")
    io.save(clean / "sub" / "b.wav", 0.1 * torch.randn(2, 8000, generator=g), SR, subtype="FLOAT")  # stereo
    io.save(clean / "c.flac", 0.2 * torch.randn(1, 20000, generator=g), SR)  # longer than a noise clip
    noise = tmp_path / "noise"
    noise.mkdir()
    io.save(noise / "hum.wav", (0.05 * torch.sin(2 * torch.pi * 50 * torch.arange(5000) / SR))[None], SR)
    io.save(noise / "hiss.wav", 0.2 * torch.randn(1, 30000, generator=g), SR)
    return clean, noise


def _rows(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _f64(path):
    return torch.from_numpy(np.asarray(io.load(path)[0], dtype=np.float64))


def test_grid_is_exact_and_keeps_the_window_across_snrs(folders, tmp_path):
    clean, noise = folders
    out = tmp_path / "grid"
    s = make_grid(clean, out, noise, [20, 0, -5], seed=3)
    assert s["inputs"] == 3 and s["written"] == 9 and s["failed"] == 0
    rows = _rows(out)
    assert [r["snr_db"] for r in rows[:3]] == [20.0, 0.0, -5.0]
    assert {r["source"] for r in rows} == {"a.wav", "sub/b.wav", "c.flac"}
    bank = NoiseBank.from_folder(noise, SR)
    for source in ("a.wav", "sub/b.wav", "c.flac"):
        mine = [r for r in rows if r["source"] == source]
        assert len({(r["noise"], r["noise_offset"]) for r in mine}) == 1  # one window for all SNRs
        x = _f64(clean / source)
        shapes = []
        for r in mine:
            y = _f64(out / r["audio_filepath"])
            assert y.shape == x.shape and r["audio_filepath"].endswith(".wav")
            d = y - x
            measured = 10 * torch.log10(x.pow(2).mean() / d.pow(2).mean())
            assert abs(float(measured) - r["snr_db"]) < 0.01  # exact SNR over the clip, clean not rescaled
            shapes.append(d / d.pow(2).mean().sqrt())
        for other in shapes[1:]:
            torch.testing.assert_close(other, shapes[0], atol=1e-4, rtol=0)  # same window, only the gain moves
        k = bank.names.index(mine[0]["noise"])
        w = bank.windows(torch.tensor([k]), torch.tensor([round(mine[0]["noise_offset"] * SR)]), x.shape[-1])
        w = w.double() / w.double().pow(2).mean().sqrt()
        torch.testing.assert_close(shapes[0], w.expand_as(shapes[0]), atol=1e-4, rtol=0)  # the recorded window


def test_per_noise_determinism_and_resume(folders, tmp_path):
    clean, noise = folders
    out, again = tmp_path / "g1", tmp_path / "g2"
    make_grid(clean, out, noise, [10, 0], per_noise=True)
    rows = _rows(out)
    assert len(rows) == 3 * 2 * 2 and {r["noise"] for r in rows} == {"hum.wav", "hiss.wav"}
    assert {r["audio_filepath"].split("/")[1] for r in rows} == {"hum", "hiss"}
    make_grid(clean, again, noise, [10, 0], per_noise=True)
    files = sorted(p.relative_to(out) for p in out.rglob("*.wav"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.wav"))
    assert all((out / f).read_bytes() == (again / f).read_bytes() for f in files)
    victim = out / rows[5]["audio_filepath"]
    victim.unlink()
    with pytest.raises(GridUsageError, match="--resume"):
        make_grid(clean, out, noise, [10, 0], per_noise=True)
    with pytest.raises(GridUsageError, match="settings changed"):
        make_grid(clean, out, noise, [10, 0], per_noise=True, seed=1, resume=True)
    s = make_grid(clean, out, noise, [10, 0], per_noise=True, resume=True)
    assert (s["written"], s["kept"]) == (1, 11)
    assert victim.read_bytes() == (again / rows[5]["audio_filepath"]).read_bytes()
    assert (out / "manifest.jsonl").read_bytes() == (again / "manifest.jsonl").read_bytes()


def test_manifest_input_keeps_fields_and_output_reads_back(folders, tmp_path):
    clean, noise = folders
    manifest = tmp_path / "in.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(clean / "a.wav"), "label": "tone"}) + "\n"
                        + json.dumps({"audio_filepath": "clean/c.flac", "offset": 0.25, "duration": 0.5,
                                      "label": "hiss", "text": "x"}) + "\n")
    out = tmp_path / "gm"
    make_grid(manifest, out, noise, [5])
    rows = _rows(out)
    assert [r["label"] for r in rows] == ["tone", "hiss"]
    assert rows[1]["source_offset"] == 0.25 and rows[1]["source_duration"] == 0.5 and rows[1]["text"] == "x"
    assert rows[1]["duration"] == 0.5 and "offset" not in rows[1]
    ds = AudioManifest(out / "manifest.jsonl")
    x, meta = ds[1]
    assert x.shape == (1, 8000) and meta["label"] == "hiss" and meta["snr_db"] == 5.0
    seg = _f64(clean / "c.flac")[:, 4000:12000]
    d = x.double() - seg
    assert abs(float(10 * torch.log10(seg.pow(2).mean() / d.pow(2).mean())) - 5.0) < 0.01


def test_cli_grid_exit_codes(folders, tmp_path, capsys):
    clean, noise = folders
    assert cli_main(["grid", str(clean), str(tmp_path / "o"), "--noise", str(noise), "--snr", "0"]) == 0
    assert "3 input(s): 3 written" in capsys.readouterr().out
    assert cli_main(["grid", str(clean), str(tmp_path / "o2"), "--noise", str(tmp_path / "none")]) == 2
    assert f"noise {str(tmp_path / 'none')!r} does not exist" in capsys.readouterr().err
    # --noise takes whatever BackgroundNoise takes: a file, a glob (and repeats)
    files = sorted(str(p) for p in noise.iterdir())
    assert cli_main(["grid", str(clean), str(tmp_path / "f"), "--noise", files[0], "--noise", f"{noise}/*",
                     "--snr", "0", "--seed", "0"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "f" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["snr_db"] == 0.0 for r in rows)
    (clean / "broken.wav").write_bytes(b"RIFF not really")
    assert cli_main(["grid", str(clean), str(tmp_path / "o3"), "--noise", str(noise), "--snr", "0"]) == 1
    err = [json.loads(line) for line in (tmp_path / "o3" / "errors.jsonl").read_text().splitlines()]
    assert len(err) == 1 and err[0]["input"].endswith("broken.wav")
