"""RoomSimulator (extra [room]): RT60 of the simulated rooms (Schroeder), bank computed once and reproducible,
applied like Reverb (direct path in place, length kept, padding untouched), records and configs."""

import pytest
import torch

import audionoise as an
from audionoise import functional as F

pytest.importorskip("pyroomacoustics")

SR = 16000


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.0])
def test_rt60_of_the_simulated_rooms_within_20_percent(rt60):
    t = an.RoomSimulator((5.0, 4.0, 2.8), (5.0, 4.0, 2.8), rt60, rt60, sample_rate=SR, num_rooms=1, seed=3)
    h = t.bank.data[0, : int(t.bank.lengths[0])]
    measured = float(F.rt60(h[None], SR)[0])
    assert measured == pytest.approx(rt60, rel=0.2)


def test_room_bank_is_reproducible_and_applied_like_reverb():
    kwargs = dict(min_rt60=0.2, max_rt60=0.35, sample_rate=SR, num_rooms=3, seed=7)
    t, again = an.RoomSimulator(**kwargs), an.RoomSimulator(**kwargs)
    assert torch.equal(t.bank.data, again.bank.data)
    x = torch.zeros(3, 8000)
    x[:, 1000] = 1.0  # an impulse: the direct path stays at sample 1000
    lengths = torch.tensor([8000, 5000, 3000])
    x[2, 3000:] = 0.5  # padding with values: untouched
    y, rec = an.Compose([t])(x, lengths, torch.Generator().manual_seed(0), return_params=True)
    assert y.shape == x.shape and torch.equal(y[2, 3000:], x[2, 3000:])
    for b in range(3):
        n = int(lengths[b])
        assert int(y[b, :n].abs().argmax()) == 1000
        r = rec[b][0]
        assert r["transform"] == "RoomSimulator" and 0 <= r["room"] < 3
        assert len(r["room_size"]) == 3 and 0.2 <= r["rt60"] <= 0.35 and len(r["source"]) == len(r["mic"]) == 3
    cfg = an.pipeline_config(an.Compose([t]))
    rebuilt = an.load_pipeline(cfg)
    assert torch.equal(rebuilt(x, lengths, torch.Generator().manual_seed(0)), y)


def test_room_validation():
    with pytest.raises(ValueError, match="three numbers"):
        an.RoomSimulator((3, 3), (4, 4, 3), sample_rate=SR, num_rooms=1)
    with pytest.raises(ValueError, match="twice the margin"):
        an.RoomSimulator((0.8, 3, 3), (4, 4, 3), sample_rate=SR, num_rooms=1)
