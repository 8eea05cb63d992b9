"""Bounds on parsed documents (configs, manifest lines): nesting depth and size, counted before anything copies,
walks recursively or serialises them. Torch-free, no file access.

Example:
    >>> check_config_shape({"transforms": [{"name": "WhiteNoise"}]})
    >>> shared = ["lol"] * 10
    >>> bomb = [shared] * 10
    >>> for _ in range(5):
    ...     bomb = [bomb] * 10
    >>> check_config_shape(bomb, "bomb.yaml")  # 10^7 values once expanded, 70 objects in memory
    Traceback (most recent call last):
    ...
    ValueError: bomb.yaml holds more than 100000 values (YAML aliases counted once per use); a pipeline config needs far fewer
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_CONFIG_DEPTH", "MAX_CONFIG_VALUES", "check_config_shape"]

#: nesting levels of a config or manifest line (each Compose/OneOf/RandomApply level of a config is two: its table
#: and its list; real configs stay under 10)
MAX_CONFIG_DEPTH = 64
#: values (tables, lists, numbers; a string counts one per started 100 characters), every repeat of a YAML alias
#: counted again: what serialising the config would write is bounded too
MAX_CONFIG_VALUES = 100_000


def check_config_shape(cfg: Any, where: str = "pipeline config") -> None:
    """Raise ``ValueError`` (one line naming ``where``) if ``cfg`` nests deeper than :data:`MAX_CONFIG_DEPTH`,
    holds more than :data:`MAX_CONFIG_VALUES` values counting shared (aliased) parts once per use, or contains
    itself. Linear in the distinct objects (a "billion laughs" config is refused in microseconds)."""
    sizes: dict[int, int] = {}  # id -> expanded value count of a finished container
    # iterative depth-first walk: (object, depth, children iterator or None)
    stack: list[list[Any]] = [[cfg, 1, None, 1]]
    open_ids: set[int] = set()
    while stack:
        frame = stack[-1]
        obj, depth = frame[0], frame[1]
        if frame[2] is None:
            if depth > MAX_CONFIG_DEPTH:
                raise ValueError(f"{where} nests deeper than {MAX_CONFIG_DEPTH} levels; flatten it")
            if id(obj) in open_ids:
                raise ValueError(f"{where} contains itself (a recursive YAML alias); write it out")
            open_ids.add(id(obj))
            frame[2] = iter(obj.values() if isinstance(obj, dict) else obj)
        child = next(frame[2], _END)
        if child is _END:
            stack.pop()
            open_ids.discard(id(obj))
            sizes[id(obj)] = frame[3]
            if stack:
                stack[-1][3] += frame[3]
        elif isinstance(child, (dict, list, tuple)):
            if id(child) in sizes:
                frame[3] += sizes[id(child)]
            else:
                stack.append([child, depth + 1, None, 1])
                continue
        else:
            frame[3] += 1 + len(child) // 100 if isinstance(child, (str, bytes)) else 1
        if frame[3] > MAX_CONFIG_VALUES:
            raise ValueError(f"{where} holds more than {MAX_CONFIG_VALUES} values (YAML aliases counted once per "
                             "use); a pipeline config needs far fewer")


_END = object()
