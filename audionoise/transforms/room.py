"""Simulated shoebox rooms (pyroomacoustics, extra ``[room]``): a bank of rooms computed once, applied like Reverb."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audionoise.transforms.base import Injector, check_number, check_range, check_sample_rate
from audionoise.transforms.reverb import Reverb, RIRBank


def _pra():
    from audionoise.runtime.extras import require

    return require("pyroomacoustics", extra="room", purpose="RoomSimulator")


def _triple(name: str, v: Any) -> tuple[float, float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 3:
        raise ValueError(f"{name} must be three numbers (length, width, height in metres), got {v!r}")
    return tuple(check_number(f"{name}[{i}]", x, lo_bound=0.0) for i, x in enumerate(v))  # type: ignore[return-value]


class RoomSimulator(Reverb):
    """Shoebox rooms by the image-source method (pyroomacoustics), with random geometry, as a bank of impulse responses.

    At construction, ``num_rooms`` rooms are drawn from ``seed`` (NumPy's generator; the audio's generator is not
    used, so the bank is the same for every run): size uniform per axis in ``[min_size, max_size]`` metres,
    ``RT60 ~ U(min_rt60, max_rt60)`` seconds turned into wall absorption and an image-source order by Sabine's
    formula (``pyroomacoustics.inverse_sabine``), a source and a microphone uniform in the room at least
    ``margin`` metres from every wall and ``min_distance`` metres apart. Each room's response is computed once
    (0.1-10 s each: longer rooms cost more) and kept (the cache is the bank); each example then draws a room
    uniformly, and the response is applied exactly as :class:`Reverb` applies a measured one: direct path in place,
    length kept, tail cut, padding never written, ``normalize`` as there, batched FFT, differentiable. Records give
    the room index and its ``room_size``, ``rt60`` (asked), ``source`` and ``mic`` positions. Needs
    ``pip install 'audionoise[room]'``. One microphone: every channel of an example gets the same response.

    Measured (Schroeder backward integration, T20, :func:`audionoise.functional.rt60`): within 20 % of the asked
    RT60 for 0.3-1.0 s (tested; the image-source tail runs a little long at 1 s).

    Example:
        >>> t = RoomSimulator(min_rt60=0.3, max_rt60=0.4, num_rooms=2, sample_rate=16000)  # doctest: +SKIP
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """

    path_field = None

    def __init__(self, min_size: tuple[float, float, float] = (3.0, 3.0, 2.5),
                 max_size: tuple[float, float, float] = (8.0, 6.0, 3.5), min_rt60: float = 0.3, max_rt60: float = 0.8,
                 *, sample_rate: int, num_rooms: int = 16, seed: int = 0, margin: float = 0.5,
                 min_distance: float = 1.0, normalize: str = "energy", p: float = 1.0) -> None:
        _pra()  # fails early, naming the extra to install
        check_sample_rate(sample_rate)
        lo, hi = _triple("min_size", min_size), _triple("max_size", max_size)
        for i in range(3):
            check_range(f"min_size[{i}]", lo[i], f"max_size[{i}]", hi[i])
        margin = check_number("margin", margin, lo_bound=0.0)
        if min(lo) <= 2 * margin:
            raise ValueError(f"min_size {list(lo)} must exceed twice the margin ({margin} m) on every axis")
        check_range("min_rt60", min_rt60, "max_rt60", max_rt60, lo_bound=0.0)
        if not isinstance(num_rooms, int) or isinstance(num_rooms, bool) or num_rooms < 1:
            raise ValueError(f"num_rooms must be an integer >= 1, got {num_rooms!r}")
        self.min_size, self.max_size = list(lo), list(hi)
        self.num_rooms, self.seed, self.margin = num_rooms, int(seed), margin
        self.min_distance = check_number("min_distance", min_distance, lo_bound=0.0)
        self.rooms = [self._draw_room(i, lo, hi, float(min_rt60), float(max_rt60), sample_rate)
                      for i in range(num_rooms)]
        bank = RIRBank.from_tensors([r.pop("rir") for r in self.rooms], sample_rate,
                                    names=[f"room{i}" for i in range(num_rooms)])
        super().__init__(bank, min_rt60, max_rt60, sample_rate=sample_rate, normalize=normalize, p=p)

    def _draw_room(self, index: int, lo, hi, min_rt60: float, max_rt60: float, sample_rate: int) -> dict[str, Any]:
        pra = _pra()
        rng = np.random.default_rng([self.seed, index])
        size = rng.uniform(lo, hi)
        rt60 = float(rng.uniform(min_rt60, max_rt60))
        absorption, order = pra.inverse_sabine(rt60, size)
        inner = (np.full(3, self.margin), size - self.margin)
        source = rng.uniform(*inner)
        for _ in range(100):  # a microphone at least min_distance from the source (if the room allows it)
            mic = rng.uniform(*inner)
            if np.linalg.norm(mic - source) >= self.min_distance:
                break
        room = pra.ShoeBox(size, fs=sample_rate, materials=pra.Material(absorption),
                           max_order=order)
        room.add_source(source)
        room.add_microphone(mic)
        room.compute_rir()
        return {"rir": torch.tensor(np.asarray(room.rir[0][0]), dtype=torch.float32),
                "room_size": [round(float(v), 3) for v in size], "rt60": round(rt60, 4),
                "source": [round(float(v), 3) for v in source], "mic": [round(float(v), 3) for v in mic]}

    def config(self) -> dict[str, Any]:
        return Injector.config(self)

    def records(self, params, info=None):
        rows = super().records(params, info)
        for row in rows:
            row.pop("rir_name", None)
            row["room"] = row.pop("rir")
            row.update(self.rooms[row["room"]])
        return rows
