"""Smoke test of recipes/farfield_telephone.py on the bundled clips and noise."""

import importlib.util
import json
from pathlib import Path

import audionoise as an
from audionoise import io as aio

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "farfield_telephone.py"


def _recipe():
    spec = importlib.util.spec_from_file_location("recipe_farfield_telephone", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_farfield_telephone_recipe(tmp_path, capsys):
    out = tmp_path / "ff"
    assert _recipe().main(["--out", str(out), "--copies", "2", "--seed", "3"]) == 0
    lines = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(lines) == 4  # 2 bundled clips x 2 copies
    for line in lines:
        wav, sr = aio.load(out / line["output"])
        speed = line["records"][0]
        assert sr == 16000 and wav.shape[1] == line["frames"] == speed["length"]
        assert speed["transform"] == "SpeedPerturb" and speed["factor"] in (0.9, 1.0, 1.1)
        assert abs(float(wav.abs().max()) - 10 ** (-1 / 20)) < 2e-3  # normalized to -1 dBFS (16-bit rounding)
        channels = [r for r in line["records"] if r["transform"] in ("Telephone", "Codec")]
        assert sum(r["applied"] for r in channels) == 1  # exactly one channel per copy
    printed = capsys.readouterr().out
    assert "RT60" in printed and "wrote 4 files" in printed
    pipe = an.load_pipeline(out / "pipeline.toml")
    assert [type(t).__name__ for t in pipe.transforms] == ["SpeedPerturb", "Reverb", "BackgroundNoise", "OneOf",
                                                           "Normalize"]
