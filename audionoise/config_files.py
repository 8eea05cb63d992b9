"""Pipeline config files without torch: reading TOML/YAML/JSON, and resolving the paths a config names.

:mod:`audionoise.pipeline` builds modules from what :func:`read_config` returns; the offline engine also reads
configs here, so ``audionoise augment`` can decide whether it needs torch at all before importing it.
"""

from __future__ import annotations

import glob
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from audionoise.io.globs import any_match
from audionoise.runtime.limits import MAX_CONFIG_DEPTH, MAX_CONFIG_VALUES, check_config_shape

__all__ = ["CONFIG_FORMATS", "MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "MAX_CONFIG_VALUES", "MAX_YAML_ALIASES",
           "check_config_shape", "read_config"]

#: a config file larger than this is refused unread (a real one is a few kB)
MAX_CONFIG_BYTES = 1 << 20
#: YAML aliases (``*name``) in one file
MAX_YAML_ALIASES = 1000


def _resolve(path: str, base_dir: Path | None, where: str, field: str = "noise") -> str:
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    tried = []
    for base in ([base_dir] if base_dir is not None else []) + [Path.cwd()]:
        cand = base / p
        tried.append(str(cand))
        if cand.exists():
            return str(cand.resolve())
        if glob.has_magic(path) and any_match(str(cand)):  # a pattern of noise files (symlinked folders not entered)
            return str(cand.absolute())
    kind = "file or folder"
    raise ValueError(f"{where}.{field}: {kind} {path!r} not found (tried {', '.join(tried)}); paths are relative to "
                     f"the config file's folder, then to the current directory")


CONFIG_FORMATS = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


def _config_format(path: Path) -> str:
    fmt = CONFIG_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"pipeline config {str(path)!r}: unknown extension {path.suffix!r}; use .toml, .yaml/.yml "
                         f"or .json")
    return fmt


def _yaml():
    from audionoise.runtime.extras import require

    return require("yaml", extra="yaml", purpose="a YAML pipeline config", package="pyyaml")


def _bounded_yaml_loader(yaml: Any, path: Path) -> Any:
    """PyYAML's SafeLoader that refuses more than :data:`MAX_YAML_ALIASES` aliases (billion laughs)."""

    class Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise ValueError(f"pipeline config {str(path)!r} uses more than {MAX_YAML_ALIASES} YAML "
                                     "aliases; write the config out without them")
            return super().compose_node(parent, index)

    return Loader


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a pipeline config file into a dict, by extension: ``.toml``, ``.yaml``/``.yml`` or ``.json``.

    YAML needs the ``audionoise[yaml]`` extra (pyyaml). Errors name the file.
    """
    path = Path(path)
    fmt = _config_format(path)
    if not path.is_file():
        raise ValueError(f"pipeline config {str(path)!r} not found; pass a .toml, .yaml or .json file (see README "
                         f"'API tour')")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"pipeline config {str(path)!r} is larger than {MAX_CONFIG_BYTES >> 20} MiB; a pipeline "
                         "config is a few kB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"pipeline config {str(path)!r} is not UTF-8 text: {exc}") from exc
    try:
        if fmt == "YAML":
            yaml = _yaml()
            try:
                cfg = yaml.load(text, Loader=_bounded_yaml_loader(yaml, path))  # noqa: S506 - a SafeLoader
            except yaml.YAMLError as exc:
                raise ValueError(f"pipeline config {str(path)!r} is not valid YAML: {exc}") from exc
        else:
            try:
                cfg = tomllib.loads(text) if fmt == "TOML" else json.loads(text)
            except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"pipeline config {str(path)!r} is not valid {fmt}: {exc}") from exc
    except RecursionError:
        raise ValueError(f"pipeline config {str(path)!r} nests deeper than {MAX_CONFIG_DEPTH} levels; flatten "
                         "it") from None
    check_config_shape(cfg, f"pipeline config {str(path)!r}")
    if not isinstance(cfg, dict):
        raise ValueError(f"pipeline config {str(path)!r} must hold a table (mapping) with a 'transforms' list at the "
                         f"top level, got {type(cfg).__name__}")
    return cfg
