"""The NumPy engine's steps: one module per injector that runs without torch.

Each module here runs one injector of :mod:`audionoise.transforms` in the NumPy offline engine
(:mod:`audionoise.offline.numpy_engine`), with the injector's kernels (:mod:`audionoise.kernels`) and its records.
A module declares:

* ``INJECTOR``: the injector's class name (the config's ``name``);
* ``FIELDS``: the config fields it implements (a config with any other field goes to the torch engine);
* ``parse(params, rate, base_dir, where) -> step | None``: the validated step for files of ``rate`` Hz, or
  ``None`` when this engine does not implement these settings exactly (the torch engine then runs the job);
* ``apply(x, step, stream, key) -> (y, record)``: one ``(channels, time)`` float32 example, drawing from the
  output's :class:`~audionoise.kernels.stream.TorchStream` in the torch injector's order.

The engine finds the modules by scanning this package: there is no list of injector names. The injector declares
the same thing (``numpy_step = "<module name>"`` on its class); ``tests/test_numpy_steps.py`` checks that every
declaration has its module and every module its declaration, and that ``FIELDS`` are the injector's own
constructor fields. An injector without a module simply runs in torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from types import ModuleType

__all__ = ["steps"]


@lru_cache(maxsize=1)
def steps() -> dict[str, ModuleType]:
    """``{injector name: step module}`` of every module in this package (those not starting with ``_``)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.INJECTOR] = module
    return found
