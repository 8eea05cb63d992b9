"""`audionoise make-data --speech-commands DIR`: the real Speech Commands v2 from a tarball, on a tiny fake one.

The fake has the official tarball's shape (members ``./yes/...``, the two list files, ``_background_noise_``,
LICENSE) with 4 words x 3 one-second clips: speaker s1 validates, s2 tests, s0 trains.
"""

import hashlib
import http.server
import io as pyio
import json
import socket
import tarfile
import threading
from pathlib import Path

import pytest
import torch

from audionoise import io
from audionoise.cli import main
from audionoise.kws.data import SpeechCommands
from audionoise.corpora.speech_commands import (FOLDER, MARKER, OFFICIAL_NAME, OFFICIAL_SHA256, V1_SHA256, V2_ONLY_WORDS,
                                        V2_WORDS, DataPrepError, _check_digest, check_layout)

SR = 16000
WORDS = ["bed", "no", "up", "yes"]


def _tree(root: Path, words=WORDS, seconds: float = 1.0) -> Path:
    """A Speech-Commands-layout folder: 3 clips per word, s1 in validation_list.txt, s2 in testing_list.txt."""
    g = torch.Generator().manual_seed(0)
    val, test = [], []
    for w in words:
        (root / w).mkdir(parents=True)
        for s in range(3):
            rel = f"{w}/s{s}ab_nohash_0.wav"
            io.save(root / rel, 0.1 * torch.randn(1, int(seconds * SR), generator=g), SR)
            (val if s == 1 else test if s == 2 else []).append(rel)
    (root / "validation_list.txt").write_text("".join(r + "\n" for r in val))
    (root / "testing_list.txt").write_text("".join(r + "\n" for r in test))
    (root / "_background_noise_").mkdir()
    io.save(root / "_background_noise_" / "white_noise.wav", 0.1 * torch.randn(1, 2 * SR, generator=g), SR)
    (root / "LICENSE").write_text("CC BY 4.0\n")
    return root


def _tar(path: Path, tree: Path | None, *, prefix: str = ".", extra: list[tarfile.TarInfo] = ()) -> Path:
    """``path`` (.tar.gz) holding ``tree`` under ``prefix`` (the official tarball: "./yes/..."), then ``extra``."""
    with tarfile.open(path, "w:gz") as tar:
        if tree is not None:
            for p in sorted(tree.rglob("*")):
                tar.add(p, arcname=f"{prefix}/{p.relative_to(tree).as_posix()}", recursive=False)
        for info in extra:
            data = b"x" * info.size
            tar.addfile(info, pyio.BytesIO(data) if info.isfile() else None)
    return path


def _member(name: str, kind=tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = 5 if kind == tarfile.REGTYPE else 0
    return info


@pytest.fixture(scope="module")
def fake(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("fake")
    return _tar(base / "sc_fake.tar.gz", _tree(base / "tree"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(argv, capsys) -> tuple[int, str, str]:
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def _error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("audionoise make-data: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------------------------------- --archive
def test_archive_prepares_the_layout_and_reports_counts(fake, tmp_path, capsys):
    status, out, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake)], capsys)
    assert status == 0, err
    root = tmp_path / "sc" / FOLDER
    assert f"prepared {root} from {fake} (SHA-256 not checked)" in out  # not the official name: nothing to check
    assert "words:      4 (not the full v0.02 vocabulary of 35): bed, no, up, yes" in out
    assert "clips:      training 4, validation 4, testing 4 (total 12)" in out
    assert "background: 1 recordings in _background_noise_" in out
    assert f"next:       audionoise train --data {root} --out runs/sc_v2_12 --labels all" in out
    assert sorted(p.name for p in (tmp_path / "sc").iterdir()) == [FOLDER]  # no temporary folder left
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [MARKER, "LICENSE", "_background_noise_", "testing_list.txt", "validation_list.txt", *WORDS])
    marker = json.loads((root / MARKER).read_text())
    assert marker["clips"] == {"training": 4, "validation": 4, "testing": 4} and marker["verified"] is False
    layout = check_layout(root)
    assert layout.words == WORDS and layout.background == ["white_noise.wav"]


def test_archive_with_a_given_digest_is_verified_and_a_top_folder_is_accepted(tmp_path, capsys):
    tgz = _tar(tmp_path / "nested.tar.gz", _tree(tmp_path / "tree"), prefix="speech_commands_v0.02")
    status, out, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(tgz),
                             "--sha256", _sha(tgz).upper(), "-q"], capsys)
    assert status == 0, err
    assert "(SHA-256 verified)" in out and err == ""  # -q: no progress lines
    assert (tmp_path / "sc" / FOLDER / "yes" / "s0ab_nohash_0.wav").is_file()
    assert json.loads((tmp_path / "sc" / FOLDER / MARKER).read_text())["sha256"] == _sha(tgz)


def test_checksum_mismatch_is_one_line_naming_file_expected_and_actual(fake, tmp_path, capsys):
    official = tmp_path / OFFICIAL_NAME  # the official name: the published digest is checked by default
    official.write_bytes(fake.read_bytes())
    status, _, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(official)],
                          capsys)
    line = _error_line(err)
    assert status == 2
    assert str(official) in line and f"expected {OFFICIAL_SHA256}" in line and f"got {_sha(fake)}" in line
    assert not (tmp_path / "sc").exists()
    # a wrong --sha256 on any name; --sha256 skip accepts it; a malformed digest is refused up front
    status, _, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake),
                           "--sha256", "0" * 64], capsys)
    assert status == 2 and f"expected {'0' * 64}" in _error_line(err)
    status, _, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake),
                           "--sha256", "abc"], capsys)
    assert status == 2 and "64 hexadecimal digits" in _error_line(err)
    assert _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(official), "--sha256",
                 "skip", "-q"], capsys)[0] == 0


def test_the_v001_tarball_is_named_as_such():
    with pytest.raises(DataPrepError, match="v0.01"):
        _check_digest("x.tar.gz", None, V1_SHA256)
    _check_digest("x.tar.gz", None, "ab" * 32)  # no expectation: any other digest passes


@pytest.mark.parametrize("bad, why", [
    (_member("../escape.txt"), "'..' in the path"),
    (_member("yes/../../escape.txt"), "'..' in the path"),
    (_member("/tmp/audionoise-test-escape.txt"), "absolute path"),
    (_member("link", tarfile.SYMTYPE, "../escape.txt"), "symbolic link"),
    (_member("abs_link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (_member("hard", tarfile.LNKTYPE, "../escape.txt"), "hard link"),
    (_member("tty", tarfile.CHRTYPE), "device file"),
    (_member("fifo", tarfile.FIFOTYPE), "device file or FIFO"),
])
def test_unsafe_members_are_rejected_and_nothing_is_written(tmp_path, capsys, bad, why):
    tgz = _tar(tmp_path / "evil.tar.gz", _tree(tmp_path / "tree"), extra=[bad])
    work = tmp_path / "work"
    status, _, err = _run(["make-data", "--speech-commands", str(work / "sc"), "--archive", str(tgz), "-q"], capsys)
    line = _error_line(err)
    assert status == 2 and f"unsafe member {bad.name!r}" in line and why in line and str(tgz) in line
    assert not (work / "sc").exists()  # the good members written before it are gone too
    assert not (tmp_path / "escape.txt").exists() and not (work / "escape.txt").exists()
    assert not Path("/tmp/audionoise-test-escape.txt").exists()


def test_links_inside_the_tree_are_fine(tmp_path, capsys):
    tgz = _tar(tmp_path / "links.tar.gz", _tree(tmp_path / "tree"),
               extra=[_member("./notes.txt"), _member("./notes_link", tarfile.SYMTYPE, "notes.txt")])
    assert _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(tgz), "-q"], capsys)[0] == 0
    assert (tmp_path / "sc" / FOLDER / "notes_link").is_symlink()


# ------------------------------------------------------------------------------------------------ bad layouts
def test_wrong_archives_get_a_clear_error(tmp_path, capsys):
    def prepare(tgz: Path) -> str:
        status, _, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(tgz), "-q"],
                              capsys)
        assert status == 2
        assert not (tmp_path / "sc").exists()
        return _error_line(err)

    random_dir = tmp_path / "random"
    (random_dir / "docs").mkdir(parents=True)
    (random_dir / "docs" / "a.txt").write_text("hello")
    line = prepare(_tar(tmp_path / "random.tar.gz", random_dir))
    assert f"{tmp_path / 'random.tar.gz'} (extracted) is not a Speech Commands v0.02 folder: validation_list.txt, " \
           "testing_list.txt, _background_noise_/ missing" in line

    v1 = _tree(tmp_path / "v1", words=[w for w in V2_WORDS if w not in V2_ONLY_WORDS], seconds=0.05)
    line = prepare(_tar(tmp_path / "speech_commands_v0.01.tar.gz", v1))
    assert "is Speech Commands v0.01 (30 words" in line

    incomplete = _tree(tmp_path / "inc")
    (incomplete / "yes" / "s1ab_nohash_0.wav").unlink()
    line = prepare(_tar(tmp_path / "inc.tar.gz", incomplete))
    assert "1 of the 4 entries of" in line and "'yes/s1ab_nohash_0.wav'" in line

    (tmp_path / "not_a_tar.tar.gz").write_bytes(b"this is not an archive" * 100)
    assert "not a readable tar archive" in prepare(tmp_path / "not_a_tar.tar.gz")
    good = _tar(tmp_path / "good.tar.gz", _tree(tmp_path / "tree"))
    (tmp_path / "cut.tar.gz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "truncated" in prepare(tmp_path / "cut.tar.gz")


def test_option_errors(fake, tmp_path, capsys):
    for argv, words in [
        (["make-data", "--archive", str(fake)], "--archive needs --speech-commands DIR"),
        (["make-data", "--download"], "--download needs --speech-commands DIR"),
        (["make-data", "--speech-commands", str(tmp_path / "sc"), "--url", "http://x/y.tar.gz"],
         "--url is only used with --download"),
        (["make-data", "--speech-commands", str(tmp_path / "sc")], "pass --archive PATH"),
        (["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(tmp_path / "nope.tar.gz")],
         "nope.tar.gz"),
        (["make-data", "--speech-commands", str(fake), "--archive", str(fake)], "is a file"),
        (["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake), "--download"],
         "not allowed with argument"),
    ]:
        status, _, err = _run(argv, capsys)
        assert status == 2 and words in err and len(err.splitlines()) == 1, (argv, err)


# ------------------------------------------------------------------------------------------------ --download
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Truncating(_Quiet):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + b"x" * 1000)


@pytest.fixture
def server(fake, tmp_path):
    """An HTTP server on 127.0.0.1 serving a folder holding ``fake`` (``/truncated.tar.gz``: a cut-off answer)."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / fake.name).write_bytes(fake.read_bytes())

    class Handler(_Quiet):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(folder), **kw)

        def do_GET(self):
            if self.path == "/truncated.tar.gz":
                return _Truncating.do_GET(self)
            return super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.folder = folder
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _url(httpd, name: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/{name}"


def test_download_from_a_local_server(server, fake, tmp_path, capsys):
    url = _url(server, fake.name)
    status, out, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--download", "--url", url,
                             "--sha256", _sha(fake)], capsys)
    assert status == 0, err
    assert f"from {url} (SHA-256 verified)" in out and "total 12" in out
    assert sorted(p.name for p in (tmp_path / "sc").iterdir()) == [FOLDER]  # the tarball is not kept
    status, out, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc2"), "--download", "--url", url,
                             "--keep-archive", "-q"], capsys)
    assert status == 0, err
    assert (tmp_path / "sc2" / fake.name).read_bytes() == fake.read_bytes()
    assert sorted(p.name for p in (tmp_path / "sc2").iterdir()) == sorted([FOLDER, fake.name])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_failures_are_one_line_and_leave_nothing(server, fake, tmp_path, capsys):
    cases = [
        (f"http://127.0.0.1:{_free_port()}/{OFFICIAL_NAME}", "refused"),  # nothing listens there
        (_url(server, "missing.tar.gz"), "HTTP 404"),
        (_url(server, "truncated.tar.gz"), "connection closed after 1002 of 100000 bytes"),
        (_url(server, fake.name), "SHA-256 mismatch"),  # downloaded fine, wrong digest: not kept either
    ]
    for url, reason in cases:
        argv = ["make-data", "--speech-commands", str(tmp_path / "sc"), "--download", "--url", url, "-q"]
        status, _, err = _run(argv + (["--sha256", "1" * 64] if "mismatch" in reason else []), capsys)
        line = _error_line(err)
        assert status == 2 and url in line and reason in line, line
        if "mismatch" not in reason:
            assert line.startswith(f"audionoise make-data: error: could not download {url}: ")
            assert line.endswith("; download it elsewhere and pass --archive PATH")
        assert not (tmp_path / "sc").exists(), url


def test_a_complete_download_is_kept_when_a_later_step_fails(server, tmp_path, capsys):
    random_dir = tmp_path / "random"
    random_dir.mkdir()
    (random_dir / "a.txt").write_text("hello")
    _tar(server.folder / "random.tar.gz", random_dir)
    status, _, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--download", "--url",
                           _url(server, "random.tar.gz"), "-q"], capsys)
    line = _error_line(err)
    kept = tmp_path / "sc" / "random.tar.gz"
    assert status == 2 and "not a Speech Commands v0.02 folder" in line
    assert line.endswith(f"the downloaded archive is kept as {kept} (pass --archive {kept} to retry)")
    assert kept.read_bytes() == (server.folder / "random.tar.gz").read_bytes()
    assert sorted(p.name for p in (tmp_path / "sc").iterdir()) == ["random.tar.gz"]


# --------------------------------------------------------------------------------------------- idempotence
def test_second_run_does_nothing_and_force_extracts_again(fake, tmp_path, capsys):
    argv = ["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake), "-q"]
    assert _run(argv, capsys)[0] == 0
    marker = tmp_path / "sc" / FOLDER / MARKER
    stamp = marker.stat().st_mtime_ns
    for again in (argv, ["make-data", "--speech-commands", str(tmp_path / "sc")]):  # no archive needed any more
        status, out, _ = _run(again, capsys)
        assert status == 0 and "is already prepared" in out and "nothing to do" in out
        assert "clips:      training 4, validation 4, testing 4 (total 12)" in out
    assert marker.stat().st_mtime_ns == stamp
    status, out, _ = _run(argv + ["--force"], capsys)
    assert status == 0 and "prepared" in out and marker.stat().st_mtime_ns != stamp
    assert sorted(p.name for p in (tmp_path / "sc").iterdir()) == [FOLDER]


def test_ctrl_c_leaves_nothing_and_leftovers_of_a_killed_run_are_removed(fake, tmp_path, capsys, monkeypatch):
    import audionoise.corpora.speech_commands as sc
    from audionoise.io.files import temp_name

    def interrupted(root, **kw):
        assert (Path(root) / "yes").is_dir()  # extracted into the hidden folder, not yet in place
        raise KeyboardInterrupt

    argv = ["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake), "-q"]
    monkeypatch.setattr(sc, "check_layout", interrupted)
    status, _, err = _run(argv, capsys)
    assert status == 130 and "interrupted" in err
    assert not (tmp_path / "sc").exists()
    monkeypatch.undo()
    stale = tmp_path / "sc" / f".{FOLDER}.0123456789abcdef.partial"  # as a `kill -9` would leave them
    (stale / "yes").mkdir(parents=True)
    (tmp_path / "sc" / temp_name(fake.name)).write_bytes(b"half a download")
    assert _run(argv, capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "sc").iterdir()) == [FOLDER]


def test_a_folder_extracted_by_hand_is_checked_not_replaced(fake, tmp_path, capsys):
    with tarfile.open(fake) as tar:
        tar.extractall(tmp_path / "sc" / FOLDER, filter="data")
    status, out, _ = _run(["make-data", "--speech-commands", str(tmp_path / "sc")], capsys)
    assert status == 0 and "is already there" in out and "total 12" in out
    assert not (tmp_path / "sc" / FOLDER / MARKER).exists()
    (tmp_path / "sc" / FOLDER / "testing_list.txt").unlink()
    status, _, err = _run(["make-data", "--speech-commands", str(tmp_path / "sc")], capsys)
    assert status == 2 and "exists but is not complete" in _error_line(err) and "--force" in err


# ---------------------------------------------------------------------------------------- the trainer reads it
def test_the_prepared_folder_is_what_the_trainer_reads(fake, tmp_path, capsys):
    assert _run(["make-data", "--speech-commands", str(tmp_path / "sc"), "--archive", str(fake), "-q"], capsys)[0] == 0
    root = tmp_path / "sc" / FOLDER
    sizes = {s: len(SpeechCommands(root, s, labels="all")) for s in ("training", "validation", "testing")}
    assert sizes == json.loads((root / MARKER).read_text())["clips"]
    ds = SpeechCommands(root, "training", labels=["yes", "no", "_silence_", "_unknown_"], unknown_fraction=1.0)
    assert ds.check_files() == [] and len(ds) == 2 + 1 + 2  # 2 words, ceil(0.1 * 2) silence, 2 unknown clips
    x, n, _ = ds[0]
    assert x.shape == (1, SR) and n == SR
    run = tmp_path / "run"
    status, _, err = _run(["train", "--data", str(root), "--out", str(run), "--labels", "yes", "no", "up",
                           "--epochs", "1", "--batch-size", "4", "--width", "0.25", "--workers", "0", "--threads",
                           "1", "--device", "cpu", "-q"], capsys)
    assert status == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["labels"] == ["yes", "no", "up"] and len(metrics["epochs"]) == 1
