"""A new injector defined in one file runs in every host (docs/contract.md, "Writing an injector").

``Flip`` multiplies an example by -1 with probability p. It declares its capabilities (``batchable``) and nothing
else: no host keeps a list of injector names, so it runs in the library call, pipelines and their config files,
``AugmentedDataset``, ``hf.Transform``, the offline job (the NumPy engine falls back to torch; long files run
whole) and the KWS trainer.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
import torch

import audionoise as an
from audionoise.data import AudioFolder, AugmentedDataset
from audionoise.kernels.draws import coin
from audionoise.offline import augment, inputs, output_seed
from audionoise.transforms.base import Params, draw, tensor

SR = 16000


@dataclasses.dataclass(frozen=True)
class FlipParams(Params):
    """Only ``applied``."""


class Flip(an.Injector):
    """Multiply an example by -1 with probability ``p`` (the toy injector of docs/contract.md)."""

    batchable = True

    def __init__(self, p: float = 1.0) -> None:
        super().__init__(p)

    def _sample(self, x, lengths, generator):
        return FlipParams(applied=tensor(coin(draw(x.shape[0], 1, generator)[:, 0], self.p)))

    def _apply_params(self, x, params, lengths, owned):
        sign = 1.0 - 2.0 * params.applied.to(x.device, x.dtype)
        return x * sign.view(-1, *([1] * (x.dim() - 1))), {}


def _pipe():
    return an.Compose([Flip(p=0.5), an.WhiteNoise(20.0, 20.0)])


def _folder(tmp_path, seconds=(0.5, 0.25, 0.75)):
    rng = np.random.default_rng(0)
    for i, s in enumerate(seconds):
        sf.write(tmp_path / "in" / f"u{i}.wav" if (tmp_path / "in").is_dir() else _mk(tmp_path / "in") / f"u{i}.wav",
                 (0.1 * rng.standard_normal(int(s * SR))).astype(np.float32), SR, subtype="FLOAT")
    return tmp_path / "in"


def _mk(path):
    path.mkdir(parents=True)
    return path


def test_library_call_and_plan():
    x = torch.rand(4, 100) + 0.5
    y, records = an.Compose([Flip()])(x, generator=torch.Generator().manual_seed(0), return_params=True)
    assert torch.equal(y, -x) and records[0] == [{"transform": "Flip", "applied": True}]
    out = an.plan.augment(Flip(p=0.0), x, generator=torch.Generator())
    assert torch.equal(out.audio, x)


def test_config_round_trip(tmp_path):
    path = tmp_path / "pipe.toml"
    an.save_pipeline(_pipe(), path)
    assert 'name = "Flip"' in path.read_text()
    x = torch.randn(3, 800)
    a = _pipe()(x, generator=torch.Generator().manual_seed(1))
    b = an.load_pipeline(path)(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_augmented_dataset_and_hf_transform(tmp_path):
    folder = _folder(tmp_path)
    ds = AugmentedDataset(AudioFolder(folder), _pipe(), seed=3, return_params=True)
    x, _meta, records = ds[0]
    assert records[0]["transform"] == "Flip"
    from audionoise.hf import Transform

    t = Transform(_pipe(), seed=3, key_column="key", return_params=True)
    batch = {"key": ["a", "b"], "audio": [{"array": np.ones(800, np.float32), "sampling_rate": SR}] * 2}
    out = t(batch)
    assert [json.loads(r)[0]["transform"] if isinstance(r, str) else r[0]["transform"]
            for r in out["augmentation"]] == ["Flip", "Flip"]


@pytest.mark.parametrize("long", [False, True])
def test_offline_job_with_torch_fallback_and_long_files(tmp_path, monkeypatch, long):
    if long:
        monkeypatch.setattr(inputs, "LONG_SAMPLES", 5000)  # every input is a "long file"
    folder = _folder(tmp_path)
    cfg = {"sample_rate": SR, "transforms": [{"name": "Flip", "p": 0.5}, {"name": "Gain", "min_db": -3, "max_db": 0}]}
    s = augment(folder, tmp_path / "out", cfg, copies=2, seed=4, progress=False)
    assert s.written == 6 and s.failed == 0
    pipe = an.load_pipeline(cfg)
    for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row.get("engine", "torch") == "torch" and row["transforms"][0]["transform"] == "Flip"
        x = torch.from_numpy(sf.read(folder / row["input"], dtype="float32")[0])[None]
        y = pipe(x, generator=torch.Generator().manual_seed(output_seed(4, row["input"], row["copy"])))
        got = sf.read(tmp_path / "out" / row["output"], dtype="float32")[0]
        np.testing.assert_allclose(got, y[0].numpy(), rtol=0, atol=1e-4)  # FLOAT in, FLOAT out


def test_kws_trainer_with_the_toy_in_its_pipeline(tmp_path):
    from kws_tiny_data import make_tiny_speech_commands

    from audionoise.kws.train import TrainConfig, train

    tiny = make_tiny_speech_commands(tmp_path / "tiny")
    toml = tmp_path / "aug.toml"
    an.save_pipeline(an.Compose([Flip(p=0.5), an.SpecTimeMask(3)]), toml)
    summary = train(TrainConfig(data=str(tiny["kws"]), out=str(tmp_path / "run"), epochs=1, batch_size=16,
                                width=0.25, clip_seconds=0.5, num_workers=0, progress=False, preload=True,
                                device="cpu", augment=str(toml), curriculum="off"))
    assert len(summary["history"]) == 1
