import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _noise_bank_cache(tmp_path_factory):
    """Noise banks built by the tests (default ``cache_dir``) go to a temporary folder, not ~/.cache."""
    os.environ["AUDIONOISE_CACHE_DIR"] = str(tmp_path_factory.mktemp("noisebank-cache"))


@pytest.fixture
def gen():
    """A fresh, seeded generator for each test."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session")
def tiny_kws_runs(tmp_path_factory):
    """A tiny Speech-Commands tree and two 2-epoch runs on it (clean, default augmentation), trained once for every
    test module that evaluates them (read only)."""
    from audionoise.kws.train import TrainConfig, train
    from kws_tiny_data import make_tiny_speech_commands

    root = tmp_path_factory.mktemp("tiny-kws-runs")
    paths = make_tiny_speech_commands(root)
    runs = []
    for name, augment in (("clean", "none"), ("augmented", "default")):
        out = root / "runs" / name
        train(TrainConfig(data=str(paths["kws"]), out=str(out), epochs=2, batch_size=16, width=0.25,
                          clip_seconds=0.5, num_workers=0, progress=False, augment=augment, device="cpu"))
        runs.append(out)
    return paths, runs
