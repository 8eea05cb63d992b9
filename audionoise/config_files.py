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

__all__ = ["CONFIG_FORMATS", "read_config"]


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
        if glob.has_magic(path) and glob.glob(str(cand), recursive=True):  # a pattern of noise files
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


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a pipeline config file into a dict, by extension: ``.toml``, ``.yaml``/``.yml`` or ``.json``.

    YAML needs the ``audionoise[yaml]`` extra (pyyaml). Errors name the file.
    """
    path = Path(path)
    fmt = _config_format(path)
    if not path.is_file():
        raise ValueError(f"pipeline config {str(path)!r} not found; pass a .toml, .yaml or .json file (see README "
                         f"'API tour')")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"pipeline config {str(path)!r} is not UTF-8 text: {exc}") from exc
    if fmt == "YAML":
        yaml = _yaml()
        try:
            cfg = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"pipeline config {str(path)!r} is not valid YAML: {exc}") from exc
    else:
        try:
            cfg = tomllib.loads(text) if fmt == "TOML" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"pipeline config {str(path)!r} is not valid {fmt}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ValueError(f"pipeline config {str(path)!r} must hold a table (mapping) with a 'transforms' list at the "
                         f"top level, got {type(cfg).__name__}")
    return cfg
