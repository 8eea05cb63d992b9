"""The layering of the package (shared/DESIGN.md): imports only point down, hosts keep out of each other's internals,
and the parameter kernels stay free of torch. Read from the source with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "audionoise"

#: folder or root module -> layer (a module may import its own layer and the ones below)
LAYERS = {
    "kernels": 0, "runtime": 0,
    "io": 1, "functional": 1, "assets": 1,
    "corpora": 2,
    "transforms": 3,
    "pipeline": 4, "plan": 4, "config_files": 4,
    "data": 5, "hf": 5, "offline": 5, "kws": 5, "robustness": 5, "pages": 5, "synth": 5,
    "cli": 6, "__main__": 6,
}
HOSTS = {name for name, layer in LAYERS.items() if layer == 5}


def _unit(module: str) -> str:
    """``audionoise.a.b`` -> ``a`` (the folder or root module that decides the layer); a public name of the root
    package (``from audionoise import NoiseBank``) counts as the module that defines it."""
    from audionoise import _EXPORTS

    if not module.count("."):
        return ""
    name = module.split(".")[1]
    return _unit(_EXPORTS[name]) if name in _EXPORTS else name


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, top_level_only: bool = False) -> list[tuple[str, int]]:
    """``(imported module or module.name, line)`` of every audionoise import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def test_every_module_belongs_to_a_layer():
    units = {_unit(m) for m in _modules()} - {""}
    assert units <= set(LAYERS), f"new folders/modules without a layer in tests/test_layers.py: {units - set(LAYERS)}"


def test_imports_only_point_down_and_hosts_keep_out_of_each_others_internals():
    bad = []
    for module, path in _modules().items():
        unit = _unit(module)
        if not unit:  # audionoise/__init__.py exposes everything lazily
            continue
        for target, line in _imports(path):
            if not target.startswith("audionoise.") or target == "audionoise.__version__":
                continue
            dest = _unit(target)
            if dest not in LAYERS:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target}: not a module of a layer")
            elif LAYERS[dest] > LAYERS[unit]:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} ({unit}, layer {LAYERS[unit]}) imports {target} "
                           f"(layer {LAYERS[dest]}): upward")
            elif unit in HOSTS and dest in HOSTS and dest != unit and any(
                    p.startswith("_") for p in target.split(".")[2:]):
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} host {unit} imports {target}: another host's "
                           f"internals")
    assert not bad, "\n".join(bad)


def test_moved_modules_are_imported_by_their_new_names_inside_the_package():
    from audionoise import MOVED  # the old names are for users' code; the package uses the new ones

    bad = [f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
           for module, path in _modules().items() if module != "audionoise"
           for target, line in _imports(path) if any(target == old or target.startswith(old + ".") for old in MOVED)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "kernels").glob("*.py")), ids=lambda p: p.name)
def test_kernels_import_neither_torch_nor_anything_above_them(path):
    for target, line in _imports(path, top_level_only=True):
        assert target.split(".")[0] != "torch", f"{path.name}:{line} imports torch at module level"
        if target.startswith("audionoise."):
            assert _unit(target) == "kernels", f"{path.name}:{line} imports {target}"


def test_old_module_names_still_import_as_the_new_modules():
    import importlib

    from audionoise import MOVED

    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new)
