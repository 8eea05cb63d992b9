"""Task-independent evaluation: Wilson intervals, McNemar's exact test, evaluate_model on a non-KWS toy task."""

import math

import pytest
import torch

from audionoise import NoiseBank
from audionoise.robustness.evaluation import LabelledCollate, compare, evaluate_model, noise_choice, summarise
from audionoise.functional import snr_db
from audionoise.robustness.stats import Z95, mcnemar_exact, paired_counts, wilson_interval

SR = 8000


def test_wilson_closed_forms():
    z2 = Z95**2
    for n in (1, 10, 250):
        assert wilson_interval(0, n) == (0.0, pytest.approx(z2 / (n + z2)))  # k = 0: upper z^2 / (n + z^2)
        assert wilson_interval(n, n) == (pytest.approx(n / (n + z2)), 1.0)  # k = n: lower n / (n + z^2)
    lo, hi = wilson_interval(8, 10)  # textbook value: 0.490 to 0.943
    assert (round(lo, 3), round(hi, 3)) == (0.49, 0.943)
    lo, hi = wilson_interval(50, 100)  # symmetric about 1/2
    assert lo + hi == pytest.approx(1.0) and hi - 0.5 == pytest.approx(
        Z95 * math.sqrt(0.25 / 100 + z2 / 40000) / (1 + z2 / 100))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(11, 10)


def test_mcnemar_exact_constructed_cases():
    assert mcnemar_exact(0, 6) == 0.03125  # 2 * 0.5**6
    assert mcnemar_exact(6, 0) == 0.03125
    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 1) == 1.0  # min(1, 2 * 0.5)
    assert paired_counts([1, 1, 0, 0, 1], [1, 0, 1, 1, 1]) == (1, 2)
    with pytest.raises(ValueError, match="same examples"):
        paired_counts([1], [1, 0])


def _result(correct_ref, correct_other, keys):
    def one(correct):
        preds = {"clean": [0] * len(keys), "0": [0 if c else 1 for c in correct]}
        return summarise(preds, [0] * len(keys), keys, ["n"] * len(keys), labels=["a", "b"])
    return {"ref": one(correct_ref), "new": one(correct_other)}


def test_compare_on_a_constructed_case():
    keys = [f"k{i}" for i in range(10)]
    res = _result([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], keys)  # b = 0, c = 6
    table = compare(res)["new vs ref"]
    assert table["0"] == {"b": 0, "c": 6, "p": 0.03125, "delta": pytest.approx(0.6)}
    assert table["clean"] == {"b": 0, "c": 0, "p": 1.0, "delta": 0.0}
    res["new"]["keys"] = keys[::-1]
    with pytest.raises(ValueError, match="different clips"):
        compare(res)


class _ToneClassifier(torch.nn.Module):
    """Not KWS: class 1 when the power above 1 kHz exceeds the power below, else 0. Records what it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, lengths):
        self.seen.append(x.clone())
        spec = torch.fft.rfft(x.mean(1)).abs() ** 2
        cut = spec.shape[-1] * 1000 // (SR // 2)
        low, high = spec[:, :cut].sum(1), spec[:, cut:].sum(1)
        return torch.stack([low, high], 1).log()


def _tones(n=12):
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(n):
        f = 300.0 if i % 2 == 0 else 2500.0
        length = 4000 - 200 * (i % 3)
        t = torch.arange(length) / SR
        x = (0.1 + 0.1 * torch.rand((), generator=g)) * torch.sin(2 * torch.pi * f * t)
        items.append((x[None], {"relative_path": f"c{i}.wav", "label": "high" if i % 2 else "low",
                                "sample_rate": SR}))
    return items


def test_evaluate_model_on_a_non_kws_task():
    g = torch.Generator().manual_seed(1)
    low = torch.cumsum(torch.randn(SR, generator=g), 0)  # brown: mostly below 1 kHz
    bank = NoiseBank.from_tensors([low - low.mean(), torch.randn(SR, generator=g)], SR, names=["brown", "white"])
    model, items = _ToneClassifier(), _tones()
    res = evaluate_model(model, items, noise=bank, snrs=[40, -10], labels=["low", "high"], batch_size=5)
    assert res["n"] == 12 and res["clean"] == 1.0 and res["snr"]["40"] == 1.0
    assert res["snr"]["-10"] < 1.0  # loud noise flips some decisions
    for cond in ("clean", "40", "-10"):
        acc = res["clean"] if cond == "clean" else res["snr"][cond]
        assert res["ci95"][cond] == list(wilson_interval(round(acc * 12), 12))
    # per noise type: each clip counted under the noise it drew, the counts add up to the pooled accuracy
    clips, _ = noise_choice(bank, [f"c{i}.wav" for i in range(12)])
    drawn = [bank.names[k] for k in clips.tolist()]
    assert res["noise_of"] == drawn and sum(res["by_noise_n"].values()) == 12
    pooled = sum(res["by_noise"][k]["-10"] * res["by_noise_n"][k] for k in res["by_noise"]) / 12
    assert pooled == pytest.approx(res["snr"]["-10"])
    # what the model saw: the clean batch unchanged, the noisy ones at the exact SNR over the valid samples
    x_clean, x40, xm10 = model.seen[:3]
    lengths = torch.tensor([4000, 3800, 3600, 4000, 3800])
    torch.testing.assert_close(snr_db(x_clean, x40 - x_clean, lengths), torch.full((5,), 40.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(snr_db(x_clean, xm10 - x_clean, lengths), torch.full((5,), -10.0), atol=1e-3, rtol=0)
    assert (xm10[1, :, 3800:] == 0).all()  # no noise in the padding
    again = evaluate_model(_ToneClassifier(), items[::-1], noise=bank, snrs=[40, -10], labels=["low", "high"])
    assert again["correct"]["-10"] == res["correct"]["-10"][::-1]  # a clip's noise follows its key, not its place


def test_labelled_items_and_errors():
    collate = LabelledCollate(["no", "yes"])
    x, lengths, y, keys = collate([(torch.ones(3), 1), (torch.ones(1, 5), {"label": "yes", "path": "/a.wav"}),
                                   (torch.ones(1, 4), 2, 0)])
    assert x.shape == (3, 1, 5) and lengths.tolist() == [3, 5, 2] and y.tolist() == [1, 1, 0]
    assert keys == [None, "/a.wav", None]
    with pytest.raises(ValueError, match="not one of the labels"):
        collate([(torch.ones(3), {"label": "maybe"})])
    with pytest.raises(ValueError, match="pass labels"):
        LabelledCollate()([(torch.ones(3), "yes")])
    with pytest.raises(ValueError, match="no 'label'"):
        collate([(torch.ones(3), {"path": "a.wav"})])


class _BNModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(1)

    def forward(self, x, lengths):
        z = self.bn(x.mean(-1))  # (batch, 1): the clip mean, normalised with the running statistics
        return torch.cat([-z, z], 1)


def test_adapt_batchnorm_re_estimates_statistics_only():
    from audionoise.robustness.evaluation import adapt_batchnorm

    model = _BNModel().eval()
    batches = [(torch.full((4, 1, 10), float(v)), None) for v in (1.0, 3.0)]  # clip means 1 and 3
    adapted = adapt_batchnorm(model, batches)
    assert adapted.bn.running_mean.item() == pytest.approx(2.0)  # average of the batch means
    assert adapted.bn.running_var.item() == pytest.approx(0.0)  # within-batch variance (unbiased) is 0
    assert model.bn.running_mean.item() == 0.0 and model.bn.running_var.item() == 1.0  # original untouched
    assert not adapted.training and torch.equal(adapted.bn.weight, model.bn.weight)


def test_evaluate_model_with_adapt_bn_per_condition():
    # a clip is "high" (class 1) when its mean is above the running mean; noise with a DC offset shifts every
    # clip's mean, which plain BN statistics cannot follow and AdaBN, re-estimated per condition, does
    items = [(torch.full((1, 100), 0.1 * (1 if i % 2 else -1)), i % 2) for i in range(8)]
    bank = NoiseBank.from_tensors([torch.ones(1000)], SR, names=["dc"])
    model = _BNModel().eval()
    plain = evaluate_model(model, items, noise=bank, snrs=[-10], batch_size=4)
    adapted = evaluate_model(model, items, noise=bank, snrs=[-10], batch_size=4, adapt_bn=True)
    assert plain["clean"] == 1.0 and plain["snr"]["-10"] == 0.5  # every noisy clip's mean > 0: all "high"
    assert adapted["clean"] == 1.0 and adapted["snr"]["-10"] == 1.0 and adapted["adapted_bn"] is True
