"""Optional dependencies: import one, or say which ``audionoise[...]`` extra brings it.

The core (``import audionoise``, injectors, pipelines, I/O, offline augmentation) needs only the core
dependencies. Plots need ``audionoise[plot]`` (also in ``[kws]``), speech synthesis ``audionoise[kws]``; YAML pipeline configs need ``audionoise[yaml]``.

Example:
    >>> json = require("json", extra="yaml", purpose="an example")  # any importable module comes back
    >>> json.dumps([1])
    '[1]'
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, *, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install 'audionoise[extra]'``.

    Args:
        module: Module to import, e.g. ``"matplotlib.figure"``.
        extra: The audionoise extra that installs it, e.g. ``"kws"``.
        purpose: What needs it, for the message, e.g. ``"plotting"``.
        package: Distribution name when it differs from the top-level module name.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name != top and not module.startswith(exc.name + "."):
            raise  # the optional package is there but broken: a real error, keep it
        raise MissingExtraError(f"{purpose} needs {package or top}, which is not installed; install it with "
                                f"pip install 'audionoise[{extra}]'", name=top) from None
