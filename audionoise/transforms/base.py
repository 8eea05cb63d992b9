"""The injector base class and its contract.

Every injector is a ``torch.nn.Module`` with three public methods:

``y = t(x, lengths=None, generator=None)``
    ``forward``: draw this call's random parameters and apply them.
``params = t.sample(x, lengths=None, generator=None)``
    Draw the parameters only: a frozen dataclass (:class:`Params`) of per-example tensors (first axis = batch)
    with an ``applied`` boolean mask.
``y = t.apply_params(x, params, lengths=None)``
    Apply given parameters, deterministically: ``t.apply_params(x, t.sample(x, lengths, g), lengths)`` equals
    ``t(x, lengths, g)`` bit for bit (for a generator in the same state). Where ``applied`` is false the example
    passes through unchanged, bit for bit.

Nothing is named ``apply``: ``nn.Module.apply(fn)`` keeps working on any model that holds injectors.

Shapes: a waveform is ``(time,)`` (one mono clip), ``(batch, time)`` (a batch of mono clips) or
``(batch, channels, time)``; multichannel audio is always 3-D. ``forward`` also takes NumPy arrays of the same shapes
and then returns NumPy arrays (:mod:`audionoise.transforms._arrays`). A spectrogram is ``(freq, frames)`` (one),
``(batch, freq, frames)`` or ``(batch, channels, freq, frames)``. ``lengths`` (``(batch,)`` integers) gives the
valid samples (frames) per example; padding after it is never measured or written.

Validation happens once, at the public entry (a pipeline validates once for all its children); the internal
hooks a subclass implements trust their input:

``_sample(x, lengths, generator) -> Params``
    ``x`` is batched, ``lengths`` is ``None`` or int64.
``_apply_params(x, params, lengths, owned) -> (y, info)``
    ``info`` holds per-example values only known when applying (e.g. ``noise_added``) for the records.
    ``owned=True`` means nobody else holds ``params`` (``forward``, pipelines), so its buffers may be consumed.

Length-changing injectors (``changes_length = True``: speed perturbation, time stretch) return ``(y, new_lengths)``
from ``forward`` and ``apply_params`` (like torchaudio's ``SpeedPerturbation``): ``y`` is zero-padded to the longest
new length of the batch and ``new_lengths`` is always an int64 ``(batch,)`` tensor (a 0-d one for a 1-D input, whose
output is then exactly its new length). Their ``_apply_params`` puts the new lengths in ``info["length"]`` (so records
carry them too); an example not applied keeps its samples and its length. Pipelines thread the lengths to the
transforms that follow and then return ``(y, lengths)`` (``(y, lengths, records)`` with ``return_params``).

Autograd: every injector is differentiable with respect to its input. Where nothing requires a gradient the
in-place fast paths are used; where the input requires one, out-of-place equivalents give the same values.

Randomness: all of it is drawn in ``_sample`` from the given ``torch.Generator`` (or torch's default one).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import threading
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from audionoise.kernels.draws import integer, uniform
from audionoise.transforms._arrays import numpy_call
from audionoise.functional._checks import CHANNELS_FIRST_TAG, check_lengths, check_not_generator, check_waveform

#: name -> injector class, filled by ``Injector.__init_subclass__``; used by pipeline configs.
REGISTRY: dict[str, type["Injector"]] = {}



def _jsonable(v: Any) -> Any:
    """A record value as JSON holds it: a non-finite float (no such JSON number) is ``None`` (null)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list):
        return [_jsonable(i) for i in v]
    return v


@dataclasses.dataclass(frozen=True)
class Params:
    """Per-example parameters drawn by :meth:`Injector.sample`.

    Fields are tensors whose first axis is the batch. Fields with ``metadata={"record": False}`` (e.g. a noise
    waveform) are used by ``apply_params`` but not written to records.
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
    """A dataclass field that ``apply_params`` uses but records leave out."""
    return dataclasses.field(metadata={"record": False})


def draw(batch: int, columns: int, generator: torch.Generator | None) -> Any:
    """``(batch, columns)`` float64 uniforms in [0, 1) from ONE call of the generator.

    Injectors draw all their scalar parameters this way (one column each). For a CPU generator the draws come
    back as a NumPy array, so the per-example parameter maths (a few scalars per example) costs NumPy's ~0.5 us
    per operation instead of torch's ~1-3 us; :func:`tensor` turns the results into the tensors of the Params.
    On other devices they stay tensors there (no host sync). The helpers below accept either kind.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(batch, columns, generator=generator, device=device, dtype=torch.float64)
    return u.numpy() if device.type == "cpu" else u


_ROWS: dict[tuple[int, int, int], Tensor] = {}


def uniform_rows(batch: int, columns: int, generator: torch.Generator | None) -> list[list[float]] | None:
    """The uniforms of ``draw(batch, columns, generator)`` as Python lists, for scalar fast paths; ``None``
    (nothing drawn) when ``generator`` is not a CPU generator.

    Same values, same generator consumption (``torch.rand`` is ``uniform_`` on a fresh tensor); a per-thread
    buffer is refilled instead of allocating one, which halves the cost of a one-row draw.
    """
    key = (threading.get_ident(), batch, columns)
    buf = _ROWS.get(key)
    if buf is None:
        if len(_ROWS) > 256:
            _ROWS.clear()
        buf = _ROWS[key] = torch.empty(batch, columns, dtype=torch.float64)
    try:
        return buf.uniform_(generator=generator).tolist()
    except RuntimeError:  # a CUDA (or other device) generator cannot fill a CPU tensor: nothing was drawn
        if generator is not None and generator.device.type != "cpu":
            return None
        raise


#: uniforms -> float32 draws from U(low, high) / integers in [0, high]: the kernels (:mod:`audionoise.kernels.draws`)
scale_uniform = uniform
scale_int = integer


def like(u: Any, t: Tensor) -> Any:
    """``t`` as the same kind of array as ``u`` (NumPy for CPU draws, a tensor on ``u``'s device otherwise)."""
    return t.detach().cpu().numpy() if isinstance(u, np.ndarray) else t.to(u.device)


def tensor(a: Any) -> Tensor:
    """A Params field from a NumPy result (shares its memory) or a tensor (unchanged)."""
    return torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


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


def needs_grad(x: Tensor) -> bool:
    """Whether an operation on ``x`` must be recorded by autograd (then no in-place fast path)."""
    return x.requires_grad and torch.is_grad_enabled()


def enter(x: Tensor, lengths: Tensor | None, spectrogram: bool, who: str) -> tuple[Tensor, bool, Tensor | None]:
    """Validate an input at a public entry; return its batched view, whether it was unbatched, int64 lengths."""
    if lengths is not None:  # (isinstance against torch.Generator costs ~2 us: only when something was passed)
        check_not_generator(lengths, who)
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 1:
        check_waveform(x)
    d = x.dim()
    if spectrogram:
        if d < 2:
            raise ValueError(f"{who} expects a spectrogram (..., freq, frames), got shape {tuple(x.shape)}")
        single = d == 2
    else:
        single = d == 1
        if d == 2 and x.shape[0] > 1 and getattr(x, CHANNELS_FIRST_TAG, False):
            raise ValueError(f"{who}: this (channels, time) = {tuple(x.shape)} tensor comes from audionoise.io.load, "
                             f"but a 2-D input is a batch of mono clips; pass x[None] (batch, channels, time) to "
                             f"augment it as one multichannel example, or load with mono=True")
    xb = x[None] if single else x
    if lengths is not None:
        lengths = check_lengths(lengths, xb.shape[0], xb.shape[-1])
    return xb, single, lengths


def _with_lengths(y: Tensor, lengths: Tensor, single: bool) -> tuple[Tensor, Tensor]:
    """The ``(y, new_lengths)`` a length-changing injector returns (unbatched for a 1-D input)."""
    return (y[0], lengths[0]) if single else (y, lengths)


class Injector(nn.Module):
    """Base class of all audionoise transforms (see the module docstring for the contract).

    Subclasses implement ``_sample`` and ``_apply_params``. Constructor arguments are the config fields
    (``config()`` / pipeline files); keep one attribute per constructor argument with the same name.
    """

    #: whether the input is a spectrogram (..., freq, frames) instead of a waveform (..., time); a pipeline
    #: splits its waveform and spectrogram stages on this declaration alone
    spectrogram: ClassVar[bool] = False
    #: whether the output can be longer or shorter than the input (then ``forward`` returns ``(y, new_lengths)``)
    changes_length: ClassVar[bool] = False
    #: whether its draws depend on the input's shape alone and its apply step works example by example (no
    #: cross-example maths), so the offline runner may stack many files' plans into one batch (exact)
    batchable: ClassVar[bool] = False
    #: the constructor field that names files or folders (noise, impulse responses): pipeline configs resolve a
    #: relative path in it against the config file's folder, and write it back relative
    path_field: ClassVar[str | None] = None
    #: its module in :mod:`audionoise.offline.numpy_steps` (e.g. ``"white_noise"``) when the NumPy offline engine
    #: runs it without torch; ``None``: the offline job runs it in torch (tests/test_numpy_steps.py ties the two)
    numpy_step: ClassVar[str | None] = None

    # Capabilities: hosts ask the injector (``batchable``, ``changes_length``, :meth:`streams_in_blocks`,
    # ``numpy_step`` and ``spectrogram``) instead of keeping lists of injector names; a host without support falls
    # back to the plain batched torch call.
    def streams_in_blocks(self) -> bool:
        """Whether this configured injector can run over a long file in blocks (its maths needs one power pass
        at most and no look-ahead); the long-file path of the offline runner asks every leaf."""
        return False

    def block_step(self, params: Params, deferred: Any, channels: int):
        """The :class:`~audionoise.transforms._blocks.BlockStep` that applies ``params`` (one example) block by
        block; ``deferred``: what this leaf recorded inside :func:`~audionoise.transforms._blocks.deferred_noise`
        (``None`` if nothing). Only for injectors whose :meth:`streams_in_blocks` is true."""
        raise NotImplementedError(f"{type(self).__name__} does not run in blocks")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            REGISTRY[cls.__name__] = cls

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        self.p = check_probability(p)

    # -- the public contract ------------------------------------------------------------------------------------
    def forward(self, x: Tensor, lengths: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """Augment ``x``: sample this call's parameters from ``generator`` and apply them.

        ``x`` may be a NumPy array (float32/float64, the same shapes): the result is then a NumPy array, with the
        same values, parameters and generator use as for ``torch.from_numpy(x)``."""
        if isinstance(x, np.ndarray):
            y = self._fast_numpy(x, lengths, generator) if lengths is None else None
            return numpy_call(self.forward, x, lengths, type(self).__name__, generator) if y is None else y
        xb, single, lengths = enter(x, lengths, self.spectrogram, type(self).__name__)
        y = self._fast_forward(xb, lengths, generator)
        if y is None:
            y, info = self._apply_params(xb, self._sample(xb, lengths, generator), lengths, True)
            if self.changes_length:
                return _with_lengths(y, info["length"], single)
        return y[0] if single else y

    def sample(self, x: Tensor, lengths: Tensor | None = None,
               generator: torch.Generator | None = None) -> Params:
        """Draw the per-example parameters ``forward`` would use (nothing is applied)."""
        xb, _, lengths = enter(x, lengths, self.spectrogram, type(self).__name__)
        return self._sample(xb, lengths, generator)

    def apply_params(self, x: Tensor, params: Params,
                     lengths: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """Apply parameters from :meth:`sample` (deterministic; ``params`` is not modified)."""
        xb, single, lengths = enter(x, lengths, self.spectrogram, type(self).__name__)
        y, info = self._apply_params(xb, params, lengths, False)
        if self.changes_length:
            return _with_lengths(y, info["length"], single)
        return y[0] if single else y

    def records(self, params: Params, info: dict[str, Tensor] | None = None) -> list[dict[str, Any]]:
        """One JSON-able dict per example: transform name, applied flag, parameters, apply-time ``info``."""
        rows = params.to_records()
        extra = {k: v.detach().cpu().tolist() for k, v in (info or {}).items()}
        out = []
        for i, row in enumerate(rows):
            rec = {"transform": type(self).__name__, "applied": bool(row.pop("applied"))}
            rec.update(row)
            rec.update({k: _jsonable(v[i]) for k, v in extra.items()})
            out.append(rec)
        return out

    # -- to implement (trusted input) ---------------------------------------------------------------------------
    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> Params:
        raise NotImplementedError(f"{type(self).__name__} must implement _sample(x, lengths, generator)")

    def _apply_params(self, x: Tensor, params: Params, lengths: Tensor | None,
                      owned: bool) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _apply_params(x, params, lengths, owned)")

    def _fast_forward(self, x: Tensor, lengths: Tensor | None,
                      generator: torch.Generator | None) -> Tensor | None:
        """Optional shortcut of ``forward`` for cheap cases (the per-item ``Dataset`` pattern on CPU), or ``None``.

        An override must return exactly ``_apply_params(x, _sample(x, lengths, generator), lengths, True)[0]``,
        bit for bit, consuming the generator the same way; it exists only to skip building ``Params`` tensors,
        whose fixed cost (~1-3 us per small tensor) dominates a one-clip call. Never used by length-changing
        injectors (their ``forward`` returns lengths too).
        """
        return None

    def _fast_numpy(self, x: np.ndarray, lengths: None, generator: torch.Generator | None) -> np.ndarray | None:
        """Optional shortcut of ``forward`` for a NumPy input without ``lengths``, or ``None``: like
        :meth:`_fast_forward`, it must return exactly what the tensor path returns (as an array), bit for bit,
        consuming the generator the same way; it skips the tensor views at the entry and exit."""
        return None

    # -- used by pipelines and the plan API (trusted, batched input) ----------------------------------------------
    def _plan(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None, active: Tensor | None,
              steps: list) -> tuple[Tensor, Tensor | None]:
        """Sample this leaf's call into ``steps`` (restricted to ``active`` examples); return the shape holder and
        lengths the transforms after it are sampled for (changed only by a length-changing leaf)."""
        params = self._sample(x, lengths, generator)
        if active is not None:
            params = dataclasses.replace(params, applied=params.applied & active.to(params.applied.device))
        steps.append((self, params))
        if not self.changes_length:
            return x, lengths
        new = self.output_lengths(params, lengths, x)
        width = int(new.max()) if new.numel() else x.shape[-1]
        return x.new_empty(*x.shape[:-1], width), new

    def output_lengths(self, params: Params, lengths: Tensor | None, x: Tensor) -> Tensor:
        """The lengths ``_apply_params`` gives for ``params`` (length-changing injectors only), without the signal.

        This fallback applies the parameters to zeros of ``x``'s shape; injectors override it with the formula.
        """
        _, info = self._apply_params(torch.zeros_like(x), params, lengths, False)
        return info["length"]

    # -- configuration ------------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Constructor arguments as a dict (``type(self)(**self.config())`` rebuilds an equal injector)."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {n: getattr(self, n, None) for n in names}

    def extra_repr(self) -> str:
        parts = []
        for k, v in self.config().items():
            try:
                parts.append(f"{k}={v!r}")
            except Exception:  # noqa: BLE001 - repr must never raise
                parts.append(f"{k}=<{type(v).__name__}>")
        return ", ".join(parts)
