"""Packaging: bundled clips inside the package, declared dependencies = imports, the wheel's contents.

Installing the wheel into a fresh venv and running ``audionoise demo`` from another folder is in ``.ci/run``
(it needs a second torch install, too slow here).
"""

import ast
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import soundfile as sf

from audionoise import assets
from audionoise.runtime.extras import MissingExtraError, require

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE = ROOT / "audionoise"
# import name -> distribution name, where they differ
DIST = {"tomli_w": "tomli-w", "yaml": "pyyaml", "espeakng_loader": "espeakng-loader", "PIL": "pillow"}


def _dist_names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def _third_party_imports(files) -> dict[str, set[str]]:
    """distribution -> files that import it (module-level or inside functions)."""
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top != "audionoise" and top not in sys.stdlib_module_names:
                    found.setdefault(DIST.get(top, top), set()).add(str(path.relative_to(ROOT)))
    return found


def test_bundled_clips_are_package_files():
    clip = assets.example_clip("yes")
    assert clip.is_file() and PACKAGE in clip.parents
    info = sf.info(clip)
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
    noises = sorted(p.name for p in assets.noise_dir().iterdir())
    assert noises == ["babble.wav", "fan.wav", "hum_50hz.wav", "pink.wav"]
    with pytest.raises(ValueError, match="no bundled example clip 'nope'; available: stop, yes"):
        assets.example_clip("nope")


def test_repository_data_noise_is_a_copy_of_the_bundled_noise():
    for clip in assets.noise_dir().iterdir():
        assert (ROOT / "data" / "noise" / clip.name).read_bytes() == clip.read_bytes(), clip.name
    assert len(list((ROOT / "data" / "noise").iterdir())) == len(list(assets.noise_dir().iterdir()))


def test_default_augmentation_falls_back_to_the_package_noise():
    from audionoise.kws.augment import BUNDLED_NOISE_DIR, resolve_noise_dir

    assert BUNDLED_NOISE_DIR == assets.noise_dir()
    assert resolve_noise_dir(None, None, generate=False) == assets.noise_dir()


def test_no_source_tree_paths_in_the_package():
    for path in PACKAGE.rglob("*.py"):
        assert "parents[" not in path.read_text(encoding="utf-8"), path


def _extra(name: str) -> set[str]:
    """Distributions of an extra, with the extras it names (``audionoise[plot]``) expanded."""
    out = set()
    for req in PYPROJECT["project"]["optional-dependencies"][name]:
        if req.startswith("audionoise["):
            for inner in req[len("audionoise["):req.index("]")].split(","):
                out |= _extra(inner.strip())
        else:
            out |= _dist_names([req])
    return out


def test_core_imports_only_core_dependencies_and_kws_only_adds_the_kws_extra():
    core = _dist_names(PYPROJECT["project"]["dependencies"])
    extras = {k: _extra(k) for k in PYPROJECT["project"]["optional-dependencies"]}
    # the pages' pictures (audionoise.pages) need only the plot extra (matplotlib), imported on use
    core_files = [p for p in PACKAGE.rglob("*.py") if not {"kws", "pages"} & set(p.relative_to(PACKAGE).parts)]
    kws_files = list((PACKAGE / "kws").rglob("*.py"))
    page_files = list((PACKAGE / "pages").rglob("*.py"))
    assert set(_third_party_imports(core_files)) <= core
    assert set(_third_party_imports(kws_files)) <= core | extras["kws"]
    assert set(_third_party_imports(page_files + [PACKAGE / "kws" / "plots.py"])) <= core | extras["plot"]
    assert extras["plot"] == {"matplotlib", "pillow"} and extras["plot"] < extras["kws"]  # no GPL synthesiser
    unused = core - set(_third_party_imports(core_files + kws_files + page_files))
    assert not unused, f"declared core dependencies that nothing imports: {unused}"
    assert not any("<" in r for r in PYPROJECT["project"]["dependencies"]), "no upper caps on core dependencies"
    assert {"plot", "kws", "yaml", "test", "bench", "all"} <= set(extras)


def test_readme_install_lists_every_extra():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[readme.index("## Install"):]
    install = install[:install.index("\n## ", 1)]
    for name in PYPROJECT["project"]["optional-dependencies"]:
        assert f'".[{name}]"' in install or f"[{name}]" in install, f"README Install does not list the [{name}] extra"
    assert "--index-url https://download.pytorch.org/whl/cpu" in install  # CPU-only torch: no 5 GB CUDA wheels


def test_require_names_the_extra_and_keeps_real_import_errors(tmp_path, monkeypatch):
    with pytest.raises(MissingExtraError, match=r"plotting needs no_such_module_xyz, which is not installed; "
                                                r"install it with pip install 'audionoise\[kws\]'"):
        require("no_such_module_xyz", extra="kws", purpose="plotting")
    (tmp_path / "broken_pkg").mkdir()
    (tmp_path / "broken_pkg" / "__init__.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as exc:  # installed but broken: not a missing extra
        require("broken_pkg", extra="kws", purpose="x")
    assert not isinstance(exc.value, MissingExtraError)


def test_plots_without_matplotlib_name_the_plot_extra():
    code = ("import sys\nsys.modules['matplotlib'] = None\n"
            "try:\n    import audionoise.kws.plots\nexcept ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("MissingExtraError plotting (audionoise evaluate --plot) needs matplotlib, which is not "
                           "installed; install it with pip install 'audionoise[plot]'")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout (package, pyproject and README only)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(PACKAGE, src / "audionoise", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    # build isolation: pip fetches the build backend that pyproject asks for (a few seconds)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True)
    return next((tmp_path / "dist").glob("audionoise-*.whl"))


def test_readme_examples_run_from_the_installed_wheel_outside_the_checkout(wheel, tmp_path):
    """Every README example against the wheel installed alone (its dependencies from this environment), in a
    folder outside the checkout: a missing package file or a path into the source tree fails here."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    code = ("import sys, audionoise\n"
            f"assert audionoise.__file__.startswith({str(target)!r}), audionoise.__file__\n"
            f"sys.path.insert(1, {str(ROOT / 'tests')!r})\n"
            "import readme_blocks\n"
            f"sys.exit(readme_blocks.main({str(ROOT / 'README.md')!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def test_wheel_holds_the_package_data_and_declares_the_extras(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for clip in ["examples/yes.wav", "examples/stop.wav", "noise/pink.wav", "noise/babble.wav"]:
        assert f"audionoise/assets/{clip}" in names
    assert not any(n.startswith(("data/", "tests/")) for n in names)
    assert "audionoise = audionoise.cli:main" in entry_points
    core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert _dist_names([c.split(":", 1)[1].strip() for c in core]) == \
        {"torch", "torchaudio", "soundfile", "numpy", "tqdm", "tomli-w"}
    assert 'Requires-Dist: matplotlib>=3.7; extra == "plot"' in metadata
    assert 'Requires-Dist: audionoise[plot]; extra == "kws"' in metadata
