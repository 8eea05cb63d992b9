"""Log-Mel frontend and KWS network: closed-form feature checks, invariances, init, checkpoints."""

import math

import pytest
import torch

from audionoise.kws.checkpoint import load_model
from audionoise.kws.features import LogMel, frame_lengths, normalize_per_utterance
from audionoise.kws.model import (BCResNet, KeywordSpotter, MatchboxNet, ModelConfig, count_parameters, init_weights,
                                  make_frontend)


def test_frontend_geometry_30ms_window_10ms_hop_40_mels():
    fe = LogMel()
    assert (fe.win_length, fe.hop_length, fe.n_mels) == (480, 160, 40)
    assert fe.mel.n_fft == 512
    spec, flen = fe(torch.zeros(3, 1, 16000), torch.tensor([16000, 8000, 1]))
    assert spec.shape == (3, 40, 101)
    assert flen.tolist() == [101, 51, 1]


def test_frame_lengths_closed_form():
    lengths = torch.tensor([0, 159, 160, 16000, 15999])
    assert frame_lengths(lengths, 160).tolist() == [1, 1, 2, 101, 100]


def test_normalisation_zero_mean_per_bin_unit_std_and_zero_padding():
    g = torch.Generator().manual_seed(0)
    spec = 5.0 + 3.0 * torch.randn(2, 4, 10, generator=g)
    lengths = torch.tensor([10, 6])
    out = normalize_per_utterance(spec, lengths, eps=0.0)
    for b, n in enumerate(lengths.tolist()):
        valid = out[b, :, :n]
        torch.testing.assert_close(valid.mean(dim=1), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(valid.pow(2).mean(), torch.tensor(1.0), atol=1e-5, rtol=0)
        assert torch.all(out[b, :, n:] == 0)
    # padding values never influence the valid part
    spec2 = spec.clone()
    spec2[1, :, 6:] = 1e6
    torch.testing.assert_close(normalize_per_utterance(spec2, lengths, eps=0.0), out)


def test_features_are_gain_invariant():
    g = torch.Generator().manual_seed(1)
    t = torch.arange(16000) / 16000
    x = (0.3 * torch.sin(2 * math.pi * 440 * t) + 0.05 * torch.randn(16000, generator=g))[None, None]
    fe = LogMel()
    a, _ = fe(x)
    b, _ = fe(0.1 * x)  # -20 dB: a constant shift of the log-Mel, removed by the per-bin mean
    # exact up to the 1e-6 floor under the log, which matters only in near-empty bins (below 50 Hz here)
    torch.testing.assert_close(a, b, atol=1e-2, rtol=0)
    assert (a - b).abs().mean() < 1e-4


def test_valid_frames_do_not_depend_on_padding_length():
    g = torch.Generator().manual_seed(2)
    x = 0.2 * torch.randn(8000, generator=g)
    short = torch.nn.functional.pad(x, (0, 8000))[None]
    long = torch.nn.functional.pad(x, (0, 16000))[None]
    fe = LogMel()
    a, fa = fe(short, torch.tensor([8000]))
    b, fb = fe(long, torch.tensor([8000]))
    assert fa.item() == fb.item() == 51
    torch.testing.assert_close(a[..., :51], b[..., :51], atol=1e-4, rtol=0)
    assert torch.all(b[..., 51:] == 0)


def test_parameter_counts_of_both_architectures():
    assert count_parameters(BCResNet(12, 40, width=1)) == 9232  # paper: BC-ResNet-1, 9.2k
    assert count_parameters(BCResNet(12, 40, width=3)) > 5 * count_parameters(BCResNet(12, 40, width=1))
    assert count_parameters(MatchboxNet(12, 40)) == 87108  # MatchboxNet 3x2x64: paper ~93k with 64 MFCC inputs


ARCHS = pytest.mark.parametrize("arch", ["matchboxnet", "bcresnet"])


@ARCHS
def test_model_shapes_mono_and_multichannel(arch):
    config = ModelConfig(n_classes=5, arch=arch, width=0.5)
    model, frontend = KeywordSpotter(config).eval(), make_frontend(config)
    assert model(frontend(torch.zeros(2, 16000))[0]).shape == (2, 5)
    assert model(frontend(torch.zeros(2, 2, 16000))[0]).shape == (2, 5)


@ARCHS
def test_model_takes_features_and_holds_no_frontend(arch):
    config = ModelConfig(n_classes=3, arch=arch, width=0.5)
    model = KeywordSpotter(config).eval()
    assert not [k for k in model.state_dict() if k.startswith("frontend")]
    spec, frames = make_frontend(config)(torch.randn(2, 1, 16000), torch.tensor([16000, 3200]))
    assert tuple(spec.shape) == (2, 40, 101) and frames.tolist() == [101, 21]
    out = model(torch.zeros_like(spec))  # what runs between frontend and model is the caller's choice
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(model(spec), model.net(spec), rtol=0, atol=0)


def test_init_from_generator_is_reproducible_and_seed_dependent():
    cfg = ModelConfig(n_classes=4, width=0.5)
    a = init_weights(KeywordSpotter(cfg), torch.Generator().manual_seed(7)).state_dict()
    b = init_weights(KeywordSpotter(cfg), torch.Generator().manual_seed(7)).state_dict()
    c = init_weights(KeywordSpotter(cfg), torch.Generator().manual_seed(8)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(torch.equal(a[k], c[k]) for k in a if k.endswith("conv.weight") or k.endswith("0.weight"))


@ARCHS
def test_gradients_reach_every_parameter(arch):
    config = ModelConfig(n_classes=3, arch=arch, width=0.5)
    model = KeywordSpotter(config)
    model(make_frontend(config)(torch.randn(4, 1, 16000))[0]).logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_model_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="n_classes"):
        BCResNet(1)
    with pytest.raises(ValueError, match="width"):
        BCResNet(12, width=0)
    with pytest.raises(ValueError, match="n_mels"):
        LogMel(n_mels=0)
    with pytest.raises(ValueError, match="arch must be one of"):
        ModelConfig(n_classes=3, arch="resnet")


def test_load_model_round_trip_and_errors(tmp_path):
    model = KeywordSpotter(ModelConfig(n_classes=3, width=0.5)).eval()
    torch.save({"version": 2, "model": model.state_dict(), "model_config": model.config.to_dict(),
                "labels": ["a", "b", "c"]}, tmp_path / "last.pt")
    loaded, ckpt = load_model(tmp_path)  # best.pt missing -> last.pt
    spec = make_frontend(model.config)(torch.randn(2, 1, 16000))[0]
    torch.testing.assert_close(loaded(spec), model(spec), rtol=0, atol=0)
    assert ckpt["labels"] == ["a", "b", "c"] and not loaded.training
    with pytest.raises(ValueError, match="no checkpoint"):
        load_model(tmp_path / "missing")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an audionoise KWS checkpoint"):
        load_model(tmp_path / "other.pt")


def test_load_model_reads_version_1_checkpoints_whose_model_held_the_frontend(tmp_path):
    model = KeywordSpotter(ModelConfig(n_classes=3, width=0.5)).eval()
    frontend = {f"frontend.{k}": v for k, v in make_frontend(model.config).state_dict().items()}
    assert frontend  # the filterbank and window buffers a version-1 model carried
    torch.save({"model": {**frontend, **model.state_dict()}, "model_config": model.config.to_dict(),
                "labels": ["a", "b", "c"]}, tmp_path / "old.pt")
    loaded, _ = load_model(tmp_path / "old.pt")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
