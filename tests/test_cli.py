"""Command-line conventions: --version, defaults in --help, one-line user errors (exit 2), -q, no torch for --help."""

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audionoise.cli import SUBCOMMANDS, build_parser, main
from audionoise.cli._common import is_user_error, one_line

LONG_COMMANDS = ("augment", "train", "evaluate", "make-data")


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def _clips(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        sf.write(folder / f"c{i}.wav", (0.1 * rng.standard_normal(1600)).astype(np.float32), 16000)
    return folder


@pytest.fixture
def files(tmp_path):
    """A folder of clips, a valid and an invalid pipeline config, a plain file and a folder with no run."""
    _clips(tmp_path / "in")
    (tmp_path / "white.toml").write_text('sample_rate = 16000\n[[transforms]]\nname = "WhiteNoise"\n'
                                         'min_snr_db = 10.0\nmax_snr_db = 20.0\n')
    (tmp_path / "typo.toml").write_text('[[transforms]]\nname = "WhiteNoize"\n')
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "empty").mkdir()
    return tmp_path


# ------------------------------------------------------------------------------------------- user errors
def _cases(t: Path) -> list[tuple[list[str], str]]:
    """(argv, text the error line must contain) for every subcommand."""
    return [
        (["demo", "--input", str(t / "missing.wav")], "missing.wav"),
        (["demo", "--noise", str(t / "missing")], "missing"),
        (["demo", "--input", str(t / "a_file")], "a_file"),
        (["demo", "--bogus"], "--bogus"),
        (["augment", str(t / "missing"), str(t / "out"), "--config", str(t / "white.toml")], "missing"),
        (["augment", str(t / "in"), str(t / "out"), "--config", str(t / "missing.toml")], "missing.toml"),
        (["augment", str(t / "in"), str(t / "out"), "--config", str(t / "typo.toml")], "WhiteNoize"),
        (["augment", str(t / "in"), str(t / "out"), "--config", str(t / "a_file")], "a_file"),
        (["augment", str(t / "in"), str(t / "out"), "--config", str(t / "white.toml"), "--copies", "0"], "--copies"),
        (["make-data", "--out", str(t / "a_file")], "a_file"),
        (["train"], "data is required"),
        (["train", "--data", str(t / "missing"), "--out", str(t / "run")], "missing"),
        (["train", "--data", str(t / "empty"), "--out", str(t / "run"), "--config", str(t / "nope.toml")], "nope.toml"),
        (["train", "--data", str(t / "empty"), "--out", str(t / "run"), "--epochs", "0"], "epochs"),
        (["train", "--data", str(t / "empty"), "--out", str(t / "run"), "--epochs", "x"], "--epochs"),
        (["train", "--data", str(t / "empty"), "--out", str(t / "run"), "--augment", str(t / "no.toml")], "no.toml"),
        (["train", "--data", str(t / "empty"), "--out", str(t / "a_file")], "a_file"),
        # not a Speech Commands folder: found by the dataset, after train() made the run folder (run2)
        (["train", "--data", str(t / "empty"), "--out", str(t / "run2")], "empty"),
        (["evaluate", str(t / "missing"), "--data", str(t / "empty")], "missing"),
        (["evaluate", str(t / "empty"), "--data", str(t / "empty")], "checkpoint"),
        (["evaluate", str(t / "empty"), "--data", str(t / "missing")], "missing"),
        (["evaluate", str(t / "empty"), "--data", str(t / "empty"), "--noise", str(t / "missing")], "missing"),
    ]


def test_every_user_error_is_one_line_on_stderr_with_exit_2(files, capsys):
    for argv, words in _cases(files):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's own errors
            status = exc.code
        out, err = capsys.readouterr()
        assert status == 2, (argv, status, err)
        lines = err.splitlines()
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith(f"audionoise {argv[0]}: error: ") and words in lines[0], (argv, lines[0])
        assert "Traceback" not in err + out
    assert not (files / "run").exists() and not (files / "out").exists()  # nothing written before the check


def test_user_error_through_the_console_entry_point_has_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "audionoise", "train", "--data", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"audionoise train: error: --data {str(tmp_path / 'nope')!r} does not "
                                       f"exist; check the path"]


def test_debug_shows_the_traceback_and_bugs_keep_theirs(tmp_path, monkeypatch):
    from audionoise.io import AudioFileError

    with pytest.raises(AudioFileError):
        main(["--debug", "demo", "--input", str(tmp_path / "missing.wav")])
    with pytest.raises(AudioFileError):
        main(["demo", "--input", str(tmp_path / "missing.wav"), "--debug"])

    def buggy(args):
        return {}["no such key"]

    from audionoise.cli import demo

    monkeypatch.setattr(demo, "run", buggy)
    with pytest.raises(KeyError):
        main(["demo"])


def test_what_counts_as_a_user_error():
    import audionoise as an

    def raised(fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the exception is the test subject
            return exc
        raise AssertionError("did not raise")

    assert is_user_error(raised(lambda: an.WhiteNoise(30, 10)))                 # audionoise validated its input
    assert not is_user_error(raised(lambda: np.zeros(2).reshape(3)))          # raised outside audionoise: a bug
    assert not is_user_error(raised(lambda: {}["k"]))
    assert is_user_error(raised(lambda: open("/nonexistent/x")))
    assert not is_user_error(OSError("no path"))
    assert one_line(raised(lambda: open("/nonexistent/x"))) == \
        "/nonexistent/x: No such file or directory; check the path"


# --------------------------------------------------------------------------------- help, version, quiet
def test_version(capsys):
    import audionoise

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"audionoise {audionoise.__version__}\n"


def test_help_and_version_do_not_import_torch():
    helps = [["--help"], ["--version"]] + [[name, "--help"] for name in SUBCOMMANDS]
    code = (f"import sys\nfrom audionoise.cli import main\nfor argv in {helps!r}:\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout and out.stderr.strip() == "False False"


def test_import_audionoise_is_lazy_and_never_imports_the_extras():
    assert _python("import sys, audionoise; print('torch' in sys.modules)").strip() == "False"
    code = ("import sys, audionoise, audionoise.kws, audionoise.offline\n"
            "audionoise.WhiteNoise(1, 2)\n"
            "print(sorted(m for m in ('matplotlib', 'espeakng_loader', 'yaml', 'librosa') if m in sys.modules))")
    assert _python(code).strip() == "[]"


def test_offline_start_up_does_not_import_torchaudio():
    """torchaudio (~0.2 s) is imported only to resample: not by an augment job of noise injectors."""
    code = ("import sys, audionoise.offline, audionoise.cli.augment\n"
            "from audionoise import Compose, WhiteNoise, TimeMask\n"
            "Compose([WhiteNoise(10, 20), TimeMask(0.1, sample_rate=16000)])\n"
            "print('torchaudio' in sys.modules)")
    assert _python(code).strip() == "False"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_with_a_default_shows_it_in_help():
    checked = 0
    for name, p in _subparsers().items():
        formatter = p._get_formatter()
        for action in p._actions:
            if action.help in (None, argparse.SUPPRESS) or action.nargs == 0:
                continue
            if action.default is None or action.default is argparse.SUPPRESS:  # train: see the next test
                continue
            assert "(default" in formatter._get_help_string(action), (name, action.dest)
            checked += 1
        if name in LONG_COMMANDS:
            assert "-q, --quiet" in p.format_help(), name
    assert checked >= 15


def test_train_help_shows_the_train_config_defaults():
    from audionoise.kws.train import TrainConfig

    text = " ".join(_subparsers()["train"].format_help().split())
    cfg = TrainConfig(data="d", out="o")
    for option, field in [("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--lr", "lr"),
                          ("--arch", "arch"), ("--width", "width"), ("--seed", "seed"), ("--workers", "num_workers")]:
        assert f"(default: {getattr(cfg, field)})" in text.split(option, 2)[-1].split(" --", 1)[0], option


def test_print_config_needs_no_data_or_out(tmp_path, capsys):
    assert main(["train", "--print-config", "--epochs", "3"]) == 0
    cfg = tomllib.loads(capsys.readouterr().out)
    assert cfg["epochs"] == 3 and cfg["arch"] == "matchboxnet" and "data" not in cfg and "out" not in cfg
    (tmp_path / "t.toml").write_text('data = "D"\nbatch_size = 8\n')
    assert main(["train", "--print-config", "--config", str(tmp_path / "t.toml")]) == 0
    cfg = tomllib.loads(capsys.readouterr().out)
    assert cfg["data"] == "D" and cfg["batch_size"] == 8 and "out" not in cfg


def test_progress_on_a_pipe_is_plain_and_quiet_hides_it(files):
    base = [sys.executable, "-m", "audionoise", "augment", str(files / "in")]
    loud = subprocess.run(base + [str(files / "o1"), "--config", str(files / "white.toml")],
                          capture_output=True, text=True, check=True)
    assert "\r" not in loud.stderr and "3 outputs written" in loud.stdout
    quiet = subprocess.run(base + [str(files / "o2"), "--config", str(files / "white.toml"), "-q"],
                           capture_output=True, text=True, check=True)
    assert quiet.stderr == "" and "3 outputs written" in quiet.stdout
