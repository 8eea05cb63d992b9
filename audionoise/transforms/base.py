"""The injector base class: ``sample`` random parameters, then ``apply`` them deterministically.

Every injector is a ``torch.nn.Module`` whose ``forward(x, lengths=None, generator=None)`` is
``apply(x, sample(x, lengths, generator), lengths)``. Parameters are a frozen dataclass of per-example tensors
(first axis = batch) with an ``applied`` boolean mask: where it is false the example passes through unchanged,
bit for bit. All randomness is drawn in ``sample`` from the given ``torch.Generator`` (or torch's default one).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from audionoise.functional._checks import as_batch, check_finite, check_lengths, check_waveform

#: name -> injector class, filled by ``Injector.__init_subclass__``; used by TOML configs.
REGISTRY: dict[str, type["Injector"]] = {}


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, list):
        return [_jsonable(i) for i in v]
    return v


@dataclasses.dataclass(frozen=True)
class Params:
    """Per-example parameters drawn by :meth:`Injector.sample`.

    Fields are tensors whose first axis is the batch. Fields with ``metadata={"record": False}`` (e.g. a noise
    waveform) are used by ``apply`` but not written to records.
    """

    applied: Tensor

    def select(self, index: int | slice | Tensor) -> "Params":
        """The parameters of a subset of examples (``int`` keeps a batch axis of 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def to(self, device: torch.device | str) -> "Params":
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).to(device)
                                            for f in dataclasses.fields(self)})

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-able dict per example with every recorded field."""
        cols = {f.name: getattr(self, f.name).detach().cpu().tolist()
                for f in dataclasses.fields(self) if f.metadata.get("record", True)}
        n = len(cols["applied"])
        return [{k: _jsonable(v[i]) for k, v in cols.items()} for i in range(n)]


def not_recorded() -> Any:
    """A dataclass field that ``apply`` uses but records leave out."""
    return dataclasses.field(metadata={"record": False})


def uniform(batch: int, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    """``(batch,)`` float32 draws from U(low, high) on the generator's device (CPU by default)."""
    device = generator.device if generator is not None else None
    return low + (high - low) * torch.rand(batch, generator=generator, device=device)


def bernoulli(batch: int, p: float, generator: torch.Generator | None) -> Tensor:
    """``(batch,)`` booleans, true with probability ``p`` (always drawn, so the stream never depends on p)."""
    device = generator.device if generator is not None else None
    return torch.rand(batch, generator=generator, device=device) < p


def randint(batch_shape: tuple[int, ...], high: Tensor, generator: torch.Generator | None) -> Tensor:
    """Integers uniform in ``[0, high]`` inclusive, elementwise (``high`` broadcasts to ``batch_shape``)."""
    device = generator.device if generator is not None else None
    u = torch.rand(batch_shape, generator=generator, device=device, dtype=torch.float64)
    high = high.to(u.device).double()
    return torch.minimum((u * (high + 1)).floor(), high).long()


def check_number(name: str, value: float, lo_bound: float | None = None) -> float:
    """``value`` as a float, or ``ValueError`` naming ``name`` unless it is a finite number >= ``lo_bound``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if lo_bound is not None and value < lo_bound:
        raise ValueError(f"{name} ({value}) must be >= {lo_bound}")
    return float(value)


def check_range(name_low: str, low: float, name_high: str, high: float, lo_bound: float | None = None) -> None:
    check_number(name_low, low, lo_bound)
    check_number(name_high, high, lo_bound)
    if low > high:
        raise ValueError(f"{name_low} ({low}) must be <= {name_high} ({high})")


def check_sample_rate(sample_rate: int) -> int:
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return sample_rate


def check_probability(p: float, name: str = "p") -> float:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


class Injector(nn.Module):
    """Base class of all audionoise transforms.

    Subclasses implement :meth:`sample` and :meth:`apply` (optionally :meth:`apply_with_info` to report values
    only known when applying, such as a noise gain). Constructor arguments are the config fields
    (``config()`` / TOML); keep one attribute per constructor argument with the same name.
    """

    #: whether forward() expects a spectrogram (..., freq, frames) instead of a waveform (..., time)
    spectrogram: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            REGISTRY[cls.__name__] = cls

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        self.p = check_probability(p)

    # -- to implement -------------------------------------------------------------------------------------------
    def sample(self, x: Tensor, lengths: Tensor | None = None,
               generator: torch.Generator | None = None) -> Params:
        raise NotImplementedError

    def apply(self, x: Tensor, params: Params, lengths: Tensor | None = None) -> Tensor:
        return self.apply_with_info(x, params, lengths)[0]

    def apply_with_info(self, x: Tensor, params: Params,
                        lengths: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``apply`` plus per-example values worth recording (``{name: (batch,) tensor}``)."""
        return self.apply(x, params, lengths), {}

    # -- shared machinery ---------------------------------------------------------------------------------------
    def forward(self, x: Tensor, lengths: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        return self.apply_owned(x, self.sample(x, lengths, generator), lengths)[0]

    def run(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None,
            active: Tensor | None = None, record: bool = True) -> tuple[Tensor, list[list[dict[str, Any]]] | None]:
        """Sample, restrict to ``active`` examples, apply, and return ``(y, records)`` (used by pipelines).

        With ``record=False`` the records are skipped (``None``): building them copies parameters to the host,
        which would force a device sync on GPU.
        """
        params = self.sample(x, lengths, generator)
        if active is not None:
            params = dataclasses.replace(params, applied=params.applied & active.to(params.applied.device))
        y, info = self.apply_owned(x, params, lengths)
        return y, ([[r] for r in self.records(params, info)] if record else None)

    def apply_owned(self, x: Tensor, params: Params, lengths: Tensor | None = None
                    ) -> tuple[Tensor, dict[str, Tensor]]:
        """:meth:`apply_with_info` for parameters nobody else holds (``forward``, ``run``).

        Subclasses may consume buffers of ``params`` (e.g. write the mix into a noise tensor) to save memory
        traffic; the public :meth:`apply` never does, so parameters stay reusable there.
        """
        return self.apply_with_info(x, params, lengths)

    def records(self, params: Params, info: dict[str, Tensor]) -> list[dict[str, Any]]:
        """One JSON-able dict per example: transform name, applied flag, parameters, apply-time info."""
        rows = params.to_records()
        extra = {k: v.detach().cpu().tolist() for k, v in info.items()}
        out = []
        for i, row in enumerate(rows):
            rec = {"transform": type(self).__name__, "applied": bool(row.pop("applied"))}
            rec.update(row)
            rec.update({k: _jsonable(v[i]) for k, v in extra.items()})
            out.append(rec)
        return out

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a dict (``type(self)(**self.config())`` rebuilds an equal injector)."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {n: getattr(self, n) for n in names}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    # -- helpers for subclasses ---------------------------------------------------------------------------------
    def _prepare(self, x: Tensor, lengths: Tensor | None,
                 finite: bool = True) -> tuple[Tensor, bool, Tensor | None]:
        """Validate input; return the batched view, whether input was 1-D, and int64 lengths.

        ``finite=True`` (in ``sample``, which every ``forward`` runs) also rejects NaN/Inf; ``apply`` skips that
        scan because the same input already passed it in ``sample``.
        """
        check_waveform(x)
        min_dim = 2 if self.spectrogram else 1
        if x.dim() < min_dim:
            raise ValueError(f"{type(self).__name__} expects a spectrogram (..., freq, frames), "
                             f"got shape {tuple(x.shape)}")
        if finite:
            check_finite(x)
        if self.spectrogram:
            xb, single = (x, False) if x.dim() > 2 else (x[None], True)
        else:
            xb, single = as_batch(x)
        return xb, single, check_lengths(lengths, xb.shape[0], xb.shape[-1])
