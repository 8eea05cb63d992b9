"""Pipelines of injectors (``Compose``, ``OneOf``, ``RandomApply``) and their configs (TOML, YAML, JSON).

A pipeline is an ``nn.Module``: ``y = pipe(x, lengths, generator)``, or with ``return_params=True``
``y, records = pipe(...)`` where ``records[i]`` lists, for example ``i``, one JSON-able dict per leaf transform:
``{"transform": name, "applied": bool, ...parameters}``. Every leaf always draws its parameters, applied or
not, so the random stream (and hence every other example's augmentation) never depends on which branch ran.

A pipeline holding a length-changing transform (``SpeedPerturb``, ``TimeStretch``: ``changes_length``) threads the
new lengths to the transforms after it and returns ``(y, lengths)`` (``(y, lengths, records)`` with
``return_params``). Each example's length is changed only by the transforms applied to it, so in a ``OneOf`` or
``RandomApply`` examples end with different lengths: ``y`` is zero-padded to the longest.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import tomli_w
import torch
from torch import Tensor, nn

from audionoise.io.files import atomic_write
from audionoise.config_files import (CONFIG_FORMATS, _config_format, _resolve, _yaml, check_config_shape,  # noqa: F401
                                     read_config)
from audionoise.plan import Augmented, Plan, augment, direct, sample_plan
from audionoise.transforms._arrays import numpy_call
from audionoise.transforms.base import REGISTRY, Injector, check_probability, draw, tensor

Records = list[list[dict[str, Any]]]


class _Container(nn.Module):
    """Shared ``forward`` of the pipeline containers: validate once, plan the children, apply the plan."""

    def forward(self, x: Tensor, lengths: Tensor | None = None, generator: torch.Generator | None = None,
                return_params: bool = False) -> Tensor | tuple:
        """Augment ``x`` (see :class:`audionoise.transforms.Injector` for shapes); with ``return_params`` also
        return the records: ``records[i]`` lists one JSON-able dict per leaf transform for example ``i``.

        With a length-changing transform inside, returns ``(y, lengths)`` (``(y, lengths, records)``). For one
        return shape whatever the pipeline holds, use :meth:`augment` (``Augmented(audio, lengths, records)``).
        """
        if isinstance(x, np.ndarray):  # NumPy in, NumPy out (audionoise.transforms._arrays)
            return numpy_call(self.forward, x, lengths, type(self).__name__, generator, return_params)
        y, lengths, records = augment(self, x, lengths, generator, record=return_params)
        if self.changes_length:
            return (y, lengths, records) if return_params else (y, lengths)
        return (y, records) if return_params else y

    def _plan(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None, active: Tensor | None,
              steps: list) -> tuple[Tensor, Tensor | None]:
        """Sample the children's calls into ``steps`` (see :meth:`Injector._plan`)."""
        raise NotImplementedError

    def sample_plan(self, x: Tensor, lengths: Tensor | None = None,
                    generator: torch.Generator | None = None) -> Plan:
        """:func:`audionoise.plan.sample_plan` of this pipeline: the frozen per-example plan, nothing applied."""
        return sample_plan(self, x, lengths, generator)

    def augment(self, x: Tensor, lengths: Tensor | None = None, generator: torch.Generator | None = None, *,
                record: bool = True) -> Augmented:
        """:func:`audionoise.plan.augment`: ``Augmented(audio, lengths, records)``, the one return shape."""
        return augment(self, x, lengths, generator, record=record)

    @functools.cached_property
    def spectrogram(self) -> bool:
        """Whether this pipeline works on spectrograms (then a 2-D input is one example, not a batch)."""
        return any(getattr(t, "spectrogram", False) for t in self.modules() if t is not self)

    @functools.cached_property
    def changes_length(self) -> bool:
        """Whether a transform inside changes lengths (then ``forward`` also returns the new lengths)."""
        return any(getattr(t, "changes_length", False) for t in self.modules() if t is not self)


def _restrict(active: Tensor | None, mask: Tensor, p: float = 0.0) -> Tensor | None:
    """``active & mask``; ``None`` (everyone) when ``mask`` came from a probability of 1 and ``active`` is None."""
    if p == 1.0:
        return active
    return mask if active is None else active.to(mask.device) & mask


def _coin(batch: int, p: float, generator: torch.Generator | None) -> Tensor:
    """Per-example booleans, true with probability ``p`` (always drawn: the stream never depends on p)."""
    return tensor(draw(batch, 1, generator)[:, 0] < p)


class Compose(_Container):
    """Apply ``transforms`` in order; with ``p < 1`` the whole chain runs on each example with probability p.

    Example:
        >>> pipe = Compose([Gain(-6, 0), WhiteNoise(10, 20, p=0.5)])
        >>> y, records = pipe(torch.randn(4, 16000), generator=torch.Generator().manual_seed(0),
        ...                   return_params=True)
    """

    def __init__(self, transforms: Iterable[nn.Module], p: float = 1.0) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        self.p = check_probability(p)

    def _plan(self, x, lengths, generator, active, steps):
        active = _restrict(active, _coin(x.shape[0], self.p, generator), self.p)
        for t in self.transforms:
            x, lengths = t._plan(x, lengths, generator, active, steps)
        return x, lengths

    def _direct(self, x: Tensor, lengths: Tensor | None, generator) -> tuple[Tensor, Tensor | None] | None:
        """:func:`audionoise.plan.direct`: with ``p = 1`` every child sees the whole batch, so each runs as it would
        alone (leaves through their shortcuts); the coin is still drawn (the stream never depends on ``p``).
        ``None`` (no shortcut: plan + apply) for ``p < 1``."""
        if self.p != 1.0:
            return None
        _coin(x.shape[0], self.p, generator)
        for t in self.transforms:
            x, lengths = direct(t, x, lengths, generator)
        return x, lengths

    def config(self) -> dict[str, Any]:
        return {"name": "Compose", "p": self.p, "transforms": [_config(t) for t in self.transforms]}


class OneOf(_Container):
    """Apply exactly one of ``transforms`` per example, chosen with probabilities proportional to ``weights``."""

    def __init__(self, transforms: Iterable[nn.Module], weights: list[float] | None = None) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        if len(self.transforms) == 0:
            raise ValueError("OneOf needs at least one transform")
        weights = [1.0] * len(self.transforms) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.transforms) or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be {len(self.transforms)} non-negative numbers with a positive sum, "
                             f"got {weights}")
        self.weights = weights

    def _plan(self, x, lengths, generator, active, steps):
        probs = torch.tensor(self.weights, device=generator.device if generator is not None else None)
        choice = torch.multinomial(probs, x.shape[0], replacement=True, generator=generator)
        for k, t in enumerate(self.transforms):
            # each child changes only the examples it is applied to, so running them in turn on the whole batch
            # gives every example exactly its own branch (its samples and its length)
            x, lengths = t._plan(x, lengths, generator, _restrict(active, choice == k), steps)
        return x, lengths

    def config(self) -> dict[str, Any]:
        return {"name": "OneOf", "weights": self.weights, "transforms": [_config(t) for t in self.transforms]}


class RandomApply(_Container):
    """Apply ``transform`` (an injector or a pipeline) to each example with probability ``p``."""

    def __init__(self, transform: nn.Module, p: float = 0.5) -> None:
        super().__init__()
        self.transform = transform
        self.p = check_probability(p)

    def _plan(self, x, lengths, generator, active, steps):
        coin = _coin(x.shape[0], self.p, generator)
        return self.transform._plan(x, lengths, generator, _restrict(active, coin, self.p), steps)

    def config(self) -> dict[str, Any]:
        return {"name": "RandomApply", "p": self.p, "transform": _config(self.transform)}


def split_stages(pipeline: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """Top-level transforms of a pipeline split into (waveform, spectrogram) stages, order kept.

    The split reads each transform's own ``spectrogram`` declaration (a container is a spectrogram stage when
    its leaves are); a container that mixes both kinds, or a top-level ``p`` below 1 on a pipeline with a
    spectrogram stage, cannot be split and raises ``ValueError``.
    """
    children = list(pipeline.transforms) if isinstance(pipeline, Compose) else [pipeline]
    wave, spec = [], []
    for t in children:
        leaves = [m for m in t.modules() if isinstance(m, Injector)]
        kinds = {bool(m.spectrogram) for m in leaves}
        if len(kinds) > 1:
            raise ValueError(f"{type(t).__name__} mixes waveform and spectrogram transforms; keep spectrogram "
                             f"transforms (SpecTimeMask, SpecFreqMask, SpecWarp) in their own top-level entries")
        (spec if kinds == {True} else wave).append(t)
    if spec and getattr(pipeline, "p", 1.0) != 1.0:
        raise ValueError(f"a pipeline with a spectrogram stage cannot have a top-level p ({pipeline.p}); set p on "
                         f"the transforms instead")
    return wave, spec


CONTAINERS = {"Compose": Compose, "OneOf": OneOf, "RandomApply": RandomApply}


def entry_is_spectrogram(entry: Any, where: str = "transforms[0]") -> bool:
    """Whether a config entry (a transform or container table) is a spectrogram stage.

    Reads the registered classes' own ``spectrogram`` declaration, like :func:`split_stages` does for modules;
    a container mixing both kinds raises ``ValueError``.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table with a 'name' field, got {entry!r}")
    name = entry.get("name")
    if name in REGISTRY:
        return bool(REGISTRY[name].spectrogram)
    if name not in CONTAINERS:
        raise ValueError(f"{where}.name: unknown transform {name!r}; allowed: "
                         f"{', '.join(sorted(REGISTRY) + sorted(CONTAINERS))}")
    children = [entry["transform"]] if name == "RandomApply" and "transform" in entry else entry.get("transforms", [])
    kinds = {entry_is_spectrogram(c, f"{where}.transforms[{i}]") for i, c in enumerate(children)}
    if len(kinds) > 1:
        raise ValueError(f"{where}: {name} mixes waveform and spectrogram transforms; keep spectrogram transforms "
                         f"(SpecTimeMask, SpecFreqMask, SpecWarp) in their own top-level entries")
    return kinds == {True}


# -- config ---------------------------------------------------------------------------------------------------------
def _config(t: nn.Module) -> dict[str, Any]:
    if isinstance(t, Injector):
        cfg = {k: v for k, v in t.config().items() if v is not None}
        held = [k for k, v in cfg.items() if isinstance(v, nn.Module)]
        if held:
            raise ValueError(f"cannot save {type(t).__name__} in a pipeline config: its {held[0]!r} is an in-memory "
                             f"{type(cfg[held[0]]).__name__}; build it from a noise folder to save it")
        return {"name": type(t).__name__, **cfg}
    if isinstance(t, _Container):
        return t.config()
    raise ValueError(f"cannot save {type(t).__name__} in a pipeline config: only audionoise injectors and "
                     f"Compose/OneOf/RandomApply are supported")


def _path_field(name: Any) -> str | None:
    """The field of transform ``name`` that names files or folders (declared by the injector: ``path_field``)."""
    cls = REGISTRY.get(name) if isinstance(name, str) else None
    return cls.path_field if cls is not None else None


def _build(entry: Any, sample_rate: int | None, base_dir: Path | None, where: str,
           force_rate: bool = False) -> nn.Module:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table with a 'name' field, got {entry!r}")
    entry = dict(entry)
    name = entry.pop("name", None)
    allowed_names = sorted(REGISTRY) + sorted(CONTAINERS)
    if name not in REGISTRY and name not in CONTAINERS:
        raise ValueError(f"{where}.name: unknown transform {name!r}; allowed: {', '.join(allowed_names)}")
    if name == "RandomApply":
        _check_fields(entry, {"p", "transform"}, where, name)
        return RandomApply(_build(entry.get("transform"), sample_rate, base_dir, f"{where}.transform", force_rate),
                           p=entry.get("p", 0.5))
    if name in ("Compose", "OneOf"):
        _check_fields(entry, {"transforms", "p"} if name == "Compose" else {"transforms", "weights"}, where, name)
        children = [_build(e, sample_rate, base_dir, f"{where}.transforms[{i}]", force_rate)
                    for i, e in enumerate(entry.pop("transforms", []))]
        return CONTAINERS[name](children, **entry)
    cls = REGISTRY[name]
    sig = inspect.signature(cls.__init__)
    fields = [n for n in sig.parameters if n != "self"]
    _check_fields(entry, set(fields), where, name)
    if "sample_rate" in fields and force_rate:
        entry["sample_rate"] = sample_rate
    elif "sample_rate" in fields and "sample_rate" not in entry:
        if sample_rate is None and sig.parameters["sample_rate"].default is not None:
            raise ValueError(f"{where}: {name} needs sample_rate; set it in the table or at the top of the config")
        entry["sample_rate"] = sample_rate
    field = _path_field(name)
    if field is not None and isinstance(entry.get(field), str):
        entry[field] = _resolve(entry[field], base_dir, where, field)
    elif field is not None and isinstance(entry.get(field), list):
        entry[field] = [_resolve(v, base_dir, where, field) if isinstance(v, str) else v for v in entry[field]]
    missing = [n for n in fields if sig.parameters[n].default is inspect.Parameter.empty and n not in entry]
    if missing:
        raise ValueError(f"{where}: {name} is missing required field(s) {missing}")
    try:
        return cls(**entry)
    except TypeError as exc:
        raise ValueError(f"{where}: {name}: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{where}: {name}: {exc}") from exc


def _check_fields(entry: dict, allowed: set[str], where: str, name: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for {name}; allowed fields: "
                         f"{', '.join(['name'] + sorted(allowed))}")


def load_pipeline(config: str | os.PathLike | dict, *, sample_rate: int | None = None,
                  base_dir: str | os.PathLike | None = None) -> Compose:
    """Build a :class:`Compose` pipeline from a config file (TOML, YAML or JSON, by extension) or a dict.

    The config has an optional top-level ``sample_rate`` (given to every transform that needs one) and a
    ``[[transforms]]`` array of tables, each with ``name`` and the transform's constructor fields. Containers nest:
    ``name = "OneOf"`` with its own ``[[transforms.transforms]]``; ``name = "RandomApply"`` with a ``transform``
    table. A relative ``noise`` folder is looked up next to the config file (or in ``base_dir`` for a dict) first,
    then in the current directory.

    Args:
        config: ``.toml``, ``.yaml``/``.yml`` or ``.json`` path, or a dict (same schema in every format).
        sample_rate: if given, overrides every rate of the config (e.g. to build the pipeline for files of
            another rate: noise banks are then resampled to it).
        base_dir: folder that relative ``noise`` paths of a dict config are relative to.

    Example:
        >>> pipe = load_pipeline({"sample_rate": 16000,
        ...                       "transforms": [{"name": "WhiteNoise", "min_snr_db": 5, "max_snr_db": 20}]})
    """
    base_dir = Path(base_dir) if base_dir is not None else None
    if isinstance(config, dict):
        check_config_shape(config)
        cfg = dict(config)
    else:
        cfg = read_config(config)
        base_dir = Path(config).resolve().parent
    unknown = sorted(set(cfg) - {"sample_rate", "transforms", "p"})
    if unknown:
        raise ValueError(f"unknown top-level field(s) {unknown} in pipeline config; allowed: p, sample_rate, "
                         f"transforms")
    force = sample_rate is not None
    sample_rate = sample_rate if force else cfg.get("sample_rate")
    if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate <= 0):
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    entries = cfg.get("transforms")
    if not isinstance(entries, list):
        raise ValueError("pipeline config needs a 'transforms' array ([[transforms]] tables in TOML)")
    return Compose([_build(e, sample_rate, base_dir, f"transforms[{i}]", force) for i, e in enumerate(entries)],
                   p=cfg.get("p", 1.0))


def pipeline_config(pipeline: nn.Module, base_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The dict form of a pipeline (what :func:`save_pipeline` writes); noise paths relative to ``base_dir``."""
    if isinstance(pipeline, Compose):
        cfg = {"p": pipeline.p, "transforms": [_config(t) for t in pipeline.transforms]}
    else:
        cfg = {"transforms": [_config(pipeline)]}
    rates = {t.sample_rate for t in pipeline.modules()
             if isinstance(t, Injector) and getattr(t, "sample_rate", None) is not None}
    if len(rates) == 1:
        rate = rates.pop()
        cfg = {"sample_rate": rate, **cfg}
        _strip(cfg["transforms"], rate, base_dir)
    else:
        _strip(cfg["transforms"], None, base_dir)
    if cfg.get("p") == 1.0:
        del cfg["p"]
    return cfg


def _strip(entries: list[dict], rate: int | None, base_dir) -> None:
    for e in entries:
        if rate is not None and e.get("sample_rate") == rate:
            del e["sample_rate"]
        field = _path_field(e.get("name"))
        if field in e and base_dir is not None:
            v = e[field]
            e[field] = [os.path.relpath(i, base_dir) for i in v] if isinstance(v, list) else os.path.relpath(v, base_dir)
        _strip(e.get("transforms", []), rate, base_dir)
        if "transform" in e:
            _strip([e["transform"]], rate, base_dir)


def save_pipeline(pipeline: nn.Module, path: str | os.PathLike) -> None:
    """Write a pipeline config so that ``load_pipeline(path)`` rebuilds an identical pipeline.

    The format follows the extension: ``.toml``, ``.yaml``/``.yml`` (``audionoise[yaml]``) or ``.json``. The file
    is replaced atomically (a temporary file named with the process id and a random token, then a rename), so
    concurrent writers never interleave and readers never see a partial file.
    """
    path = Path(path)
    fmt = _config_format(path)
    cfg = pipeline_config(pipeline, base_dir=path.resolve().parent)
    if fmt == "TOML":
        text = tomli_w.dumps(cfg)
    elif fmt == "JSON":
        text = json.dumps(cfg, indent=2) + "\n"
    else:
        text = _yaml().safe_dump(cfg, sort_keys=False)
    atomic_write(path, text)
