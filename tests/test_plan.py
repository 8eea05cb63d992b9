"""The public plan API: sample_plan -> Plan -> apply_plan, and augment's one return shape."""

import pytest
import torch

import audionoise as an
from audionoise.plan import Augmented, Plan, apply_plan, augment, sample_plan

SR = 16000


def _pipe(noise_dir):
    return an.Compose([
        an.Gain(-6.0, 0.0),
        an.OneOf([an.WhiteNoise(0.0, 20.0), an.BackgroundNoise(noise_dir, 0.0, 20.0, sample_rate=SR)]),
        an.RandomApply(an.SpeedPerturb((0.9, 1.1), sample_rate=SR), p=0.5),
        an.TimeMask(0.05, num_masks=2, sample_rate=SR),
    ])


@pytest.fixture(scope="module")
def pipe():
    return _pipe(an.assets.noise_dir())


def _x(batch=5, t=8000):
    return 0.1 * torch.randn(batch, t, generator=torch.Generator().manual_seed(0))


def test_apply_of_sampled_plan_equals_the_one_shot_call(pipe):
    x = _x()
    y, lengths, records = pipe(x, generator=torch.Generator().manual_seed(7), return_params=True)
    g = torch.Generator().manual_seed(7)
    plan = sample_plan(pipe, x, generator=g)
    assert torch.equal(g.get_state(), _after(pipe, x, 7).get_state())  # same generator consumption
    out = apply_plan(x, plan)
    assert isinstance(out, Augmented)
    assert torch.equal(out.audio, y) and torch.equal(out.lengths, lengths) and out.records == records
    again = apply_plan(x, plan)  # owned=False: the plan is reusable and gives the same bytes
    assert torch.equal(again.audio, y)


def _after(pipe, x, seed):
    g = torch.Generator().manual_seed(seed)
    pipe(x, generator=g)
    return g


def test_plans_of_single_examples_concatenate_into_the_batch_result(pipe):
    x = _x(4)
    plans = [sample_plan(pipe, x[i:i + 1], generator=torch.Generator().manual_seed(i)) for i in range(4)]
    batch = apply_plan(x, Plan.concat(plans))
    for i in range(4):
        one = pipe(x[i:i + 1], generator=torch.Generator().manual_seed(i), return_params=True)
        n = int(one[1][0])
        assert int(batch.lengths[i]) == n
        torch.testing.assert_close(batch.audio[i, :n], one[0][0, :n], rtol=1e-6, atol=1e-7)
        assert batch.records[i] == one[2][0]


def test_select_and_restrict(pipe):
    x = _x(3)
    plan = sample_plan(pipe, x, generator=torch.Generator().manual_seed(1))
    assert plan.select(1).batch == 1 and plan.select(slice(0, 2)).batch == 2
    keep = torch.tensor([True, False, True])
    out = apply_plan(x, plan.restrict(keep))
    assert torch.equal(out.audio[1, :8000], x[1]) and int(out.lengths[1]) == 8000  # left out: as it was
    assert all(not r["applied"] for r in out.records[1])
    assert plan.records()[0][0]["transform"] == "Gain"


def test_augment_has_one_return_shape_for_every_pipeline():
    x = _x(2)
    plain = augment(an.Compose([an.WhiteNoise(10, 10)]), x, generator=torch.Generator().manual_seed(0))
    assert plain.lengths is None and plain.audio.shape == x.shape and len(plain.records) == 2
    given = augment(an.WhiteNoise(10, 10), x, torch.tensor([8000, 4000]), torch.Generator().manual_seed(0))
    assert given.lengths.tolist() == [8000, 4000] and given.records[0][0]["transform"] == "WhiteNoise"
    fast = augment(an.SpeedPerturb((1.1,), sample_rate=SR), x, generator=torch.Generator().manual_seed(0))
    assert fast.lengths.tolist() == [7273, 7273] and fast.audio.shape == (2, 7273)  # ceil(8000 / 1.1)
    one = augment(an.Compose([an.WhiteNoise(10, 10)]), x[0], generator=torch.Generator().manual_seed(0))
    assert one.audio.shape == (8000,)


def test_speed_perturb_lengths_are_known_before_applying():
    t = an.SpeedPerturb((0.9, 1.0, 1.1), sample_rate=SR)
    x, lengths = _x(6), torch.tensor([8000, 7999, 5000, 1, 8000, 3333])
    params = t.sample(x, lengths, torch.Generator().manual_seed(2))
    _, applied = t.apply_params(x * (torch.arange(8000) < lengths[:, None]), params, lengths)
    assert torch.equal(t.output_lengths(params, lengths, x), applied)


def test_a_generator_passed_as_lengths_is_refused_with_a_pointer(pipe):
    with pytest.raises(ValueError, match="generator="):
        pipe(_x(1), torch.Generator())


def test_plan_refuses_a_batch_of_another_size(pipe):
    plan = sample_plan(pipe, _x(2), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="plan is for 2"):
        apply_plan(_x(3), plan)


@pytest.mark.parametrize("shape", [(1, 8000), (1, 2, 8000), (3, 8000)])
def test_unrecorded_runs_take_the_leaves_shortcuts_with_the_same_bits(pipe, shape):
    """forward without records lets leaves of a p = 1 Compose use their per-item shortcuts (plan.direct): the
    same audio, lengths and generator state as sampling the plan and applying it."""
    default = an.Compose([an.TimeShift(0.1, sample_rate=SR), an.Gain(-6, 0),
                          an.BackgroundNoise(an.assets.noise_dir(), -5, 20, sample_rate=SR, p=0.8),
                          an.WhiteNoise(0, 20, p=0.3), an.TimeMask(0.05, num_masks=2, sample_rate=SR)])
    x = 0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(4))
    for p in (pipe, default, an.Compose([an.WhiteNoise(5, 5)], p=0.5)):
        for seed in range(6):
            g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
            fast = augment(p, x, generator=g1, record=False)
            slow = apply_plan(x, sample_plan(p, x, generator=g2), owned=True)
            assert torch.equal(fast.audio, slow.audio), (p, seed)
            assert (fast.lengths is None and slow.lengths is None) or torch.equal(fast.lengths, slow.lengths)
            assert torch.equal(g1.get_state(), g2.get_state())
