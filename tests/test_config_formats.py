"""Pipeline configs in TOML, YAML and JSON: same schema, same validation, save by extension, atomic writes."""

import json
import multiprocessing
import sys
import tomllib

import pytest
import soundfile as sf
import torch

import audionoise as an
from audionoise.runtime.extras import MissingExtraError

SR = 16000
CONFIG = {
    "sample_rate": SR,
    "transforms": [
        {"name": "BackgroundNoise", "noise": "noise", "min_snr_db": 0.0, "max_snr_db": 20.0, "p": 0.8},
        {"name": "OneOf", "weights": [1.0, 3.0], "transforms": [
            {"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 30.0},
            {"name": "ColoredNoise", "min_snr_db": 10.0, "max_snr_db": 30.0, "min_exponent": 1.0,
             "max_exponent": 2.0}]},
        {"name": "RandomApply", "p": 0.5, "transform": {"name": "TimeMask", "max_width_s": 0.05, "num_masks": 2}},
    ],
}


def _dump(cfg: dict, fmt: str) -> str:
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(cfg)
    if fmt == "json":
        return json.dumps(cfg)
    import yaml

    return yaml.safe_dump(cfg)


def _output(pipe):
    x = torch.randn(4, SR, generator=torch.Generator().manual_seed(1))
    return pipe(x, torch.tensor([SR, 12000, 8000, SR]), torch.Generator().manual_seed(2))


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "a.wav", (0.1 * torch.randn(8000, generator=torch.Generator().manual_seed(0)))
             .numpy(), SR)
    return tmp_path


@pytest.mark.parametrize("ext", ["json", "yaml", "yml"])
def test_every_format_builds_the_same_pipeline_as_toml(folder, ext):
    if ext in ("yaml", "yml"):
        pytest.importorskip("yaml")
    (folder / "p.toml").write_text(_dump(CONFIG, "toml"))
    (folder / f"p.{ext}").write_text(_dump(CONFIG, "yaml" if ext == "yml" else ext))
    assert torch.equal(_output(an.load_pipeline(folder / f"p.{ext}")), _output(an.load_pipeline(folder / "p.toml")))


@pytest.mark.parametrize("ext", ["toml", "json", "yaml"])
def test_save_by_extension_round_trips(folder, ext):
    if ext == "yaml":
        yaml = pytest.importorskip("yaml")
    pipe = an.load_pipeline(CONFIG, base_dir=folder)
    path = folder / "saved" / f"again.{ext}"
    path.parent.mkdir()
    an.save_pipeline(pipe, path)
    text = path.read_text()
    parsed = {"toml": tomllib.loads, "json": json.loads}.get(ext, lambda t: yaml.safe_load(t))(text)
    assert parsed["transforms"][0]["noise"] == "../noise"  # relative to the file, in every format
    assert torch.equal(_output(an.load_pipeline(path)), _output(pipe))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_validation_is_the_same_in_every_format(folder):
    bad = {"transforms": [{"name": "WhiteNoize", "min_snr_db": 0}]}
    (folder / "bad.json").write_text(json.dumps(bad))
    (folder / "bad.toml").write_text(_dump(bad, "toml"))
    messages = []
    for name in ("bad.json", "bad.toml"):
        with pytest.raises(ValueError, match="unknown transform 'WhiteNoize'") as exc:
            an.load_pipeline(folder / name)
        messages.append(str(exc.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("name, text, words", [
    ("p.json", "{not json", "is not valid JSON"),
    ("p.json", "[1, 2]", "must hold a table"),
    ("p.toml", "[[transforms]\nname=", "is not valid TOML"),
    ("p.cfg", "", "unknown extension '.cfg'"),
])
def test_unreadable_configs_name_the_file(folder, name, text, words):
    (folder / name).write_text(text)
    with pytest.raises(ValueError, match=words) as exc:
        an.load_pipeline(folder / name)
    assert name in str(exc.value)


def test_save_rejects_an_unknown_extension(folder):
    with pytest.raises(ValueError, match=r"unknown extension '\.txt'; use \.toml, \.yaml/\.yml or \.json"):
        an.save_pipeline(an.Compose([an.WhiteNoise(0, 10)]), folder / "p.txt")


def test_yaml_without_pyyaml_names_the_extra(folder, monkeypatch):
    (folder / "p.yaml").write_text("transforms: []\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if pyyaml were not installed
    with pytest.raises(MissingExtraError, match=r"pyyaml.*pip install 'audionoise\[yaml\]'"):
        an.load_pipeline(folder / "p.yaml")
    with pytest.raises(MissingExtraError, match=r"audionoise\[yaml\]"):
        an.save_pipeline(an.Compose([an.WhiteNoise(0, 10)]), folder / "p.yaml")


def _save_many(path: str, snr: float) -> None:
    pipe = an.Compose([an.WhiteNoise(snr, snr)])
    for _ in range(30):
        an.save_pipeline(pipe, path)


def test_concurrent_writers_never_leave_a_partial_or_temporary_file(tmp_path):
    path = tmp_path / "shared.toml"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save_many, args=(str(path), float(i))) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.toml"]
    snr = an.load_pipeline(path).transforms[0].min_snr_db
    assert snr in (0.0, 1.0, 2.0, 3.0)
