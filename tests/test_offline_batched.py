"""The batched offline engine gives, bit for bit, each output's one-file definition."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from audionoise import Compose, OneOf, RandomApply
from audionoise.offline import augment
from audionoise.offline.batched import batchable
from audionoise.plan import Plan, apply_plan, sample_plan
from audionoise.transforms import (BackgroundNoise, ColoredNoise, Gain, NoiseBank, SpecTimeMask, TimeMask,
                                   TimeShift, WhiteNoise)

from offline_helpers import content


def _pipeline(rate: int = 16000) -> Compose:
    bank = NoiseBank.from_tensors([torch.randn(4000, generator=torch.Generator().manual_seed(1)),
                                   torch.randn(24000, generator=torch.Generator().manual_seed(2))], sample_rate=rate)
    return Compose([RandomApply(Gain(-6, 0), 0.5),
                    OneOf([WhiteNoise(5, 20), ColoredNoise(5, 10, 1, 2)], weights=[2, 1]),
                    BackgroundNoise(bank, 0, 10, sample_rate=rate, p=0.7),
                    TimeMask(0.05, 2, sample_rate=rate),
                    TimeShift(0.1, sample_rate=rate, mode="pad")], p=0.9)


@pytest.mark.parametrize("shape", [(1, 16000), (1, 2, 8001), (1, 6, 333)])
def test_sampled_then_batched_equals_one_call_per_example(shape):
    pipe = _pipeline()
    xs = [torch.randn(shape, generator=torch.Generator().manual_seed(i)) for i in range(11)]
    seeds = [1000 + 7 * i for i in range(11)]
    reference = [pipe(x, generator=torch.Generator().manual_seed(s), return_params=True) for x, s in zip(xs, seeds)]
    plans = [sample_plan(pipe, x, None, torch.Generator().manual_seed(s)) for x, s in zip(xs, seeds)]
    y, _, records = apply_plan(torch.cat(xs), Plan.concat(plans), owned=True)
    for i, (ref_y, ref_records) in enumerate(reference):
        assert torch.equal(y[i:i + 1], ref_y)
        assert records[i] == ref_records[0]
    applied = {r["applied"] for rec in records for r in rec}
    assert applied == {True, False}  # the coins and choices really differ across examples


def test_sampling_leaves_the_pipeline_and_generator_as_a_real_call():
    pipe = _pipeline()
    x = torch.randn(1, 4000)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    sample_plan(pipe, x, None, g1)
    pipe(x, generator=g2)
    assert torch.equal(g1.get_state(), g2.get_state())
    assert not any("_apply_params" in m.__dict__ for m in pipe.modules())  # the recording is undone


def test_batchable_pipelines():
    assert batchable(_pipeline()) and batchable(WhiteNoise(0, 1))
    assert not batchable(Compose([WhiteNoise(0, 1), SpecTimeMask(3)]))

    class Custom(nn.Module):
        def forward(self, x, lengths=None, generator=None, return_params=False):
            return x, [[] for _ in range(x.shape[0])]

    assert not batchable(Custom())


class _OneFileAtATime(nn.Module):
    """The same pipeline behind a module the engine cannot batch: it runs one file at a time."""

    def __init__(self, pipe: nn.Module) -> None:
        super().__init__()
        self.pipe = pipe

    def forward(self, x, lengths=None, generator=None, return_params=False):
        return self.pipe(x, lengths, generator, return_params=return_params)


def test_engine_batched_equals_one_file_at_a_time(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(40):  # several shapes: mono/stereo, a few lengths, so batches of several sizes form
        frames = (8000, 8000, 4000, 1234)[i % 4]
        x = 0.2 * rng.standard_normal((frames, 1 + i % 2)).astype(np.float32)
        sub = tmp_path / "in" / f"s{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"u{i:02d}.wav", x, 16000, subtype="FLOAT" if i % 5 else "PCM_16")
    pipe = _pipeline()
    a = augment(tmp_path / "in", tmp_path / "batched", pipe, copies=3, progress=False)
    b = augment(tmp_path / "in", tmp_path / "single", _OneFileAtATime(pipe), copies=3, progress=False)
    assert a.written == b.written == 120
    batched, single = content(tmp_path / "batched"), content(tmp_path / "single")
    assert {k: v for k, v in batched.items() if k != "run.json"} == {k: v for k, v in single.items()
                                                                     if k != "run.json"}


def test_length_changing_pipeline_runs_per_file_with_its_new_lengths(tmp_path):
    import audionoise
    from audionoise import io

    (tmp_path / "in").mkdir()
    for i in range(3):
        sf.write(tmp_path / "in" / f"a{i}.wav", (0.1 * np.random.default_rng(i).standard_normal(16000))
                 .astype(np.float32), 16000, subtype="FLOAT")
    cfg = {"sample_rate": 16000, "transforms": [{"name": "SpeedPerturb", "factors": [0.9, 1.1]},
                                                {"name": "WhiteNoise", "min_snr_db": 10, "max_snr_db": 20}]}
    pipe = audionoise.load_pipeline(cfg)
    assert not batchable(pipe)
    s = augment(tmp_path / "in", tmp_path / "out", cfg, copies=2, progress=False)
    assert (s.written, s.failed) == (6, 0)
    import json
    for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        x, _ = io.load(tmp_path / "in" / row["input"])
        y, lengths, _ = pipe(x[None], generator=torch.Generator().manual_seed(row["seed"]), return_params=True)
        out, _ = io.load(tmp_path / "out" / row["output"])
        assert row["frames"] == int(lengths[0]) == out.shape[-1] != 16000
        assert torch.equal(out, y[0, :, :int(lengths[0])])
