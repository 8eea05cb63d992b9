"""The real Google Speech Commands v2 from its official tarball: download, checksum, safe extraction, layout check.

:func:`prepare_speech_commands` turns ``speech_commands_v0.02.tar.gz`` (Warden 2018; 2,428,923,189 bytes, 35
words, 105,829 clips) into the folder ``DIR/speech_commands_v0.02`` that :class:`audionoise.kws.SpeechCommands`
and ``audionoise train --data`` read (one folder per word, ``validation_list.txt``, ``testing_list.txt``,
``_background_noise_/``). Behind ``audionoise make-data --speech-commands DIR``.

- **Checksum**: the SHA-256 of the official tarball, :data:`OFFICIAL_SHA256`, is the one published by torchaudio
  (``torchaudio/datasets/speechcommands.py``) and TensorFlow Datasets (``speech_commands/checksums.tsv``). It is
  checked when the archive has the official file name (``sha256="auto"``), against any digest given, or not at
  all (``"skip"``). The v0.01 tarball is recognised by its digest too.
- **Download**: streamed from :data:`OFFICIAL_URL` (or any URL) into a hidden temporary file in ``DIR``, hashed on
  the way; any failure removes it.
- **Extraction**: every member is checked before anything is written (no absolute paths, no ``..``, no link
  leaving the tree, no device files or FIFOs), then extracted with tarfile's ``"data"`` filter into a hidden
  temporary folder in ``DIR``, checked (:func:`check_layout`) and renamed into place: ``DIR/speech_commands_v0.02``
  is either absent or complete. A marker file (:data:`MARKER`) records what was prepared; a second call finds it
  and does nothing.

This module is standard library only at import time (the CLI's ``--help`` imports it for its defaults).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["FOLDER", "MARKER", "OFFICIAL_NAME", "OFFICIAL_SHA256", "OFFICIAL_URL", "V2_WORDS", "V2_12_WORDS", "DataPrepError",
           "Layout", "check_layout", "download", "prepare_speech_commands", "safe_extract", "sha256_file"]

OFFICIAL_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
OFFICIAL_NAME = "speech_commands_v0.02.tar.gz"
#: SHA-256 of the official v0.02 tarball (torchaudio's ``_CHECKSUMS``; TensorFlow Datasets' checksums.tsv).
OFFICIAL_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
#: SHA-256 of the v0.01 tarball (30 words), only to say so when someone passes it.
V1_SHA256 = "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d"
OFFICIAL_BYTES = 2_428_923_189
FOLDER = "speech_commands_v0.02"
MARKER = ".audionoise-prepared.json"
LISTS = ("validation_list.txt", "testing_list.txt")
BACKGROUND = "_background_noise_"
#: The 35 words of v0.02; v0.01 had 30 (without :data:`V2_ONLY_WORDS`).
#: The ten command words of the standard 12-class Speech Commands task (the corpus definition; the KWS task
#: and the bundled data both read it from here).
V2_12_WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
V2_WORDS = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
            "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
            "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
V2_ONLY_WORDS = ("backward", "follow", "forward", "learn", "visual")
_CHUNK = 1 << 20
_MB = 1_000_000


class DataPrepError(ValueError):
    """A problem with the archive, the download or the folder that the user can fix (one line, CLI exit 2)."""


@dataclass
class Layout:
    """What :func:`check_layout` found in a Speech-Commands-layout folder."""

    root: Path
    words: list[str]
    clips: dict[str, int]  # training / validation / testing audio files
    background: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"words": self.words, "clips": self.clips, "background": self.background}


# --------------------------------------------------------------------------------------------------- checksums
def _expected_digest(sha256: str | None, name: str) -> str | None:
    """The digest to check ``name`` against: ``"auto"``/None = the official one for the official file name."""
    if sha256 is None or sha256 == "auto":
        return OFFICIAL_SHA256 if name == OFFICIAL_NAME else None
    if sha256 == "skip":
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise DataPrepError(f"--sha256 ({sha256!r}) must be 64 hexadecimal digits, 'auto' or 'skip'")
    return sha256.lower()


def _check_digest(what: str, expected: str | None, actual: str) -> None:
    if actual == V1_SHA256:
        raise DataPrepError(f"{what} is Speech Commands v0.01 (30 words, SHA-256 {actual}); this prepares v0.02: "
                            f"get {OFFICIAL_NAME}")
    if expected is not None and actual != expected:
        raise DataPrepError(f"{what}: SHA-256 mismatch: expected {expected}, got {actual}; the file is damaged or "
                            "not the expected archive (download it again, or pass --sha256 skip to use it anyway)")


def sha256_file(path: str | os.PathLike, *, progress: bool = True) -> str:
    """The SHA-256 hex digest of ``path``, read in 1 MiB blocks (with a progress display)."""
    from audionoise.runtime.progress import progress as progress_bar

    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh, progress_bar(total=_mb(path.stat().st_size), desc="SHA-256", unit="MB",
                                              enabled=progress, leave=False) as bar:
        done = 0
        while block := fh.read(_CHUNK):
            h.update(block)
            done = _advance(bar, done, fh.tell())
    return h.hexdigest()


def _mb(n: int) -> int:
    return max(1, -(-n // _MB))


def _advance(bar, done_mb: int, nbytes: int) -> int:
    now = nbytes // _MB
    if now > done_mb:
        bar.update(now - done_mb)
    return max(now, done_mb)


# ---------------------------------------------------------------------------------------------------- download
def download(url: str, folder: str | os.PathLike, *, progress: bool = True,
             timeout: float = 30.0) -> tuple[Path, str]:
    """Stream ``url`` into a hidden temporary file in ``folder``; return ``(path, sha256)``.

    The caller renames or deletes the file. On any failure nothing is left behind and :class:`DataPrepError`
    says why ("could not download URL: reason; download it elsewhere and pass --archive PATH").
    """
    from audionoise.io.files import temp_name
    from audionoise.runtime.progress import progress as progress_bar

    name = _url_name(url)
    tmp = Path(folder) / temp_name(name)
    h = hashlib.sha256()
    got = 0
    try:
        with open(tmp, "xb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "audionoise"})
                with urllib.request.urlopen(request, timeout=timeout) as resp:
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    _check_free_space(Path(folder), total or 0, "the download")
                    with progress_bar(total=_mb(total) if total else None, desc="download", unit="MB",
                                      enabled=progress, leave=False) as bar:
                        done = 0
                        while block := resp.read(_CHUNK):
                            h.update(block)
                            _write(out, block, tmp)
                            got += len(block)
                            done = _advance(bar, done, got)
                if total is not None and got != total:
                    raise DataPrepError(_download_failed(url, f"connection closed after {got} of {total} bytes"))
            except DataPrepError:
                raise
            except urllib.error.HTTPError as exc:
                raise DataPrepError(_download_failed(url, f"HTTP {exc.code} {exc.reason}")) from exc
            except urllib.error.URLError as exc:
                raise DataPrepError(_download_failed(url, _reason(exc.reason))) from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise DataPrepError(_download_failed(url, _reason(exc))) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, h.hexdigest()


def _url_name(url: str) -> str:
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name
    return name or OFFICIAL_NAME


def _reason(exc: BaseException | str) -> str:
    if isinstance(exc, BaseException):
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    else:
        text = exc
    return " ".join(str(text).split())


def _download_failed(url: str, reason: str) -> str:
    return f"could not download {url}: {reason}; download it elsewhere and pass --archive PATH"


def _write(out, block: bytes, path: Path) -> None:
    try:
        out.write(block)
    except OSError as exc:
        raise DataPrepError(f"could not write {path}: {_reason(exc)}; free some disk space or choose another "
                            "folder") from exc


def _check_free_space(folder: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DataPrepError(f"{folder} has {free / 1e9:.2f} GB free, {what} needs at least {needed / 1e9:.2f} GB; "
                            "free some disk space or choose another folder")


# -------------------------------------------------------------------------------------------------- extraction
def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why extracting ``member`` could write outside the destination (or make a device), else None."""
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' in the path"
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return "device file or FIFO"
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        if target.startswith("/") or re.match(r"^[A-Za-z]:", target) or ".." in PurePosixPath(target).parts:
            kind = "symbolic" if member.issym() else "hard"
            return f"{kind} link to {member.linkname!r}, outside the archive's folder"
    elif not (member.isfile() or member.isdir()):
        return "unsupported member type"
    return None


class _CountingReader:
    """A read-only file wrapper that tells a progress bar how many compressed bytes were read."""

    def __init__(self, raw, bar) -> None:
        self.raw, self.bar, self.done = raw, bar, 0

    def read(self, n: int = -1) -> bytes:
        block = self.raw.read(n)
        self.done = _advance(self.bar, self.done, self.raw.tell())
        return block


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, progress: bool = True) -> int:
    """Extract the tar archive ``archive`` (any compression) into the existing folder ``dest``; return the file count.

    One streaming pass: each member is checked (:func:`_member_problem`) before it is written and then extracted
    with tarfile's ``"data"`` filter, which also refuses links resolving outside ``dest``. Raises
    :class:`DataPrepError` naming the archive and the member; the caller removes ``dest`` on failure.
    """
    from audionoise.runtime.progress import progress as progress_bar

    archive, dest = Path(archive), Path(dest)
    files = 0
    with open(archive, "rb") as raw, progress_bar(total=_mb(archive.stat().st_size), desc="extract", unit="MB",
                                                  enabled=progress, leave=False) as bar:
        try:
            with tarfile.open(fileobj=_CountingReader(raw, bar), mode="r|*") as tar:
                for member in tar:
                    problem = _member_problem(member)
                    if problem:
                        raise DataPrepError(f"{archive}: unsafe member {member.name!r} ({problem}); refusing to "
                                            "extract this archive (nothing was kept)")
                    try:
                        tar.extract(member, dest, filter="data")
                    except tarfile.FilterError as exc:
                        raise DataPrepError(f"{archive}: unsafe member {member.name!r} ({_reason(exc)}); refusing "
                                            "to extract this archive (nothing was kept)") from exc
                    files += member.isfile()
        except (tarfile.ReadError, tarfile.CompressionError, EOFError, zlib.error) as exc:
            raise DataPrepError(f"{archive}: not a readable tar archive, or truncated ({_reason(exc)}); pass the "
                                f"complete {OFFICIAL_NAME}") from exc
        except OSError as exc:
            if exc.errno is None:  # a decoding error of the compressed stream (e.g. "Not a gzipped file")
                raise DataPrepError(f"{archive}: not a readable tar archive ({_reason(exc)}); pass the complete "
                                    f"{OFFICIAL_NAME}") from exc
            hint = "free some disk space or choose another folder" if exc.errno == errno.ENOSPC else \
                "check the folder's permissions and free space"
            raise DataPrepError(f"could not extract {archive} into {dest}: {_reason(exc)}; {hint}") from exc
    return files


# ------------------------------------------------------------------------------------------------ layout check
def _read_list(path: Path) -> list[str]:
    return [ln.strip().replace("\\", "/") for ln in path.read_text(errors="replace").splitlines() if ln.strip()]


def check_layout(root: str | os.PathLike, *, where: str | None = None) -> Layout:
    """Check that ``root`` is a complete Speech Commands folder; return its words and clip counts per split.

    Needs ``validation_list.txt``, ``testing_list.txt``, ``_background_noise_/`` with at least one recording,
    at least one word folder, every list entry present as a file, no clip in both lists, and not the v0.01
    vocabulary (30 words, none of :data:`V2_ONLY_WORDS`). Counts audio files as
    :class:`audionoise.kws.SpeechCommands` does (training = every clip in no list). Raises :class:`DataPrepError`
    naming ``where`` (default: ``root``).
    """
    from audionoise.io import AUDIO_EXTENSIONS

    root = Path(root)
    where = str(root) if where is None else where
    missing = [n for n in LISTS if not (root / n).is_file()]
    if not (root / BACKGROUND).is_dir():
        missing.append(BACKGROUND + "/")
    if missing:
        raise DataPrepError(f"{where} is not a Speech Commands v0.02 folder: {', '.join(missing)} missing (a "
                            f"random archive? pass {OFFICIAL_NAME})")

    def audio(folder: Path) -> list[str]:
        return sorted(e.name for e in os.scandir(folder)
                      if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in AUDIO_EXTENSIONS)

    words = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(("_", ".")))
    clips = {w: audio(root / w) for w in words}
    words = [w for w in words if clips[w]]
    if not words:
        raise DataPrepError(f"{where} has no word folders with audio (like yes/, no/); pass {OFFICIAL_NAME}")
    background = audio(root / BACKGROUND)
    if not background:
        raise DataPrepError(f"{where}/{BACKGROUND} holds no recordings; pass the complete {OFFICIAL_NAME}")
    if set(words) >= set(V2_WORDS) - set(V2_ONLY_WORDS) and not set(words) & set(V2_ONLY_WORDS):
        raise DataPrepError(f"{where} is Speech Commands v0.01 (30 words, no {', '.join(V2_ONLY_WORDS)}); this "
                            f"prepares v0.02: get {OFFICIAL_NAME}")
    present = {f"{w}/{f}" for w in words for f in clips[w]}
    listed = {}
    for name in LISTS:
        entries = set(_read_list(root / name))
        absent = sorted(entries - present)
        if absent:
            raise DataPrepError(f"{len(absent)} of the {len(entries)} entries of {where}/{name} have no audio file "
                                f"(first: {absent[0]!r}); the archive is incomplete or not Speech Commands")
        listed[name] = entries
    both = listed[LISTS[0]] & listed[LISTS[1]]
    if both:
        raise DataPrepError(f"{len(both)} clips are in both {LISTS[0]} and {LISTS[1]} (first: {min(both)!r}) "
                            f"in {where}; the lists are not the official ones")
    validation, testing = len(listed[LISTS[0]]), len(listed[LISTS[1]])
    counts = {"training": len(present) - validation - testing, "validation": validation, "testing": testing}
    return Layout(root=root, words=words, clips=counts, background=background)


# --------------------------------------------------------------------------------------------------- preparing
@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (POSIX ``flock`` on its descriptor; no lock file is left)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no inter-process lock
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_LEFTOVER = re.compile(rf"^\.{re.escape(FOLDER)}\.[0-9a-f]{{16}}\.(partial|old)$")


def _remove_leftovers(folder: Path, download_name: str) -> None:
    """Temporary folders and downloads of an earlier run that was killed (we hold the lock: nobody uses them)."""
    from audionoise.io.files import temp_target

    for entry in folder.iterdir():
        if _LEFTOVER.match(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
        elif temp_target(entry.name) == download_name and entry.is_file():
            entry.unlink(missing_ok=True)


def _temp_dir(folder: Path, kind: str) -> Path:
    return folder / f".{FOLDER}.{os.getpid() & 0xFFFFFFFF:08x}{secrets.token_hex(4)}.{kind}"


def _find_root(extracted: Path) -> Path:
    """The folder holding the list files: the extraction folder (official tarball) or its only sub-folder."""
    if (extracted / LISTS[0]).exists():
        return extracted
    entries = [e for e in extracted.iterdir() if not e.name.startswith((".", "._"))]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / LISTS[0]).exists():
        return entries[0]
    return extracted


def _read_marker(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def prepare_speech_commands(folder: str | os.PathLike, *, archive: str | os.PathLike | None = None,
                            download_from: str | None = None, sha256: str = "auto", force: bool = False,
                            keep_archive: bool = False, progress: bool = True) -> dict[str, Any]:
    """Make ``folder/speech_commands_v0.02`` from a local ``archive`` or by downloading ``download_from``.

    Args:
        folder: Where the data set goes (created if missing); the data set root is ``folder/speech_commands_v0.02``.
        archive: A local ``.tar.gz`` (or any tar archive).
        download_from: A URL (usually :data:`OFFICIAL_URL`) to fetch into ``folder`` first.
        sha256: ``"auto"`` (check :data:`OFFICIAL_SHA256` when the file name is :data:`OFFICIAL_NAME`), a hex
            digest to check, or ``"skip"``.
        force: Extract again even if the folder is complete (the old one is replaced only once the new one is).
        keep_archive: Keep a downloaded tarball as ``folder/<its name>`` (a download is also kept when a later
            step fails, so it is never fetched twice).
        progress: Show progress bars / lines.

    Returns:
        ``{"status": "prepared" | "ready" | "found", "root", "words", "clips", "background", "source",
        "sha256", "verified", "seconds"[, "archive"]}``: ``ready`` = prepared earlier by this function,
        ``found`` = a complete folder put there by other means (checked, left as it is).

    Raises:
        DataPrepError: bad digest, failed download, unsafe or unreadable archive, wrong layout, or neither
            ``archive`` nor ``download_from`` when the folder is not ready.
    """
    start = time.perf_counter()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataPrepError(f"--speech-commands {str(folder)!r} is a file; pass a folder")
    if archive is not None and download_from is not None:
        raise DataPrepError("pass either an archive or a URL to download, not both")
    name = Path(archive).name if archive is not None else _url_name(download_from or OFFICIAL_URL)
    expected = _expected_digest(sha256, name)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = _prepare_locked(folder, archive, download_from, name, expected, force, keep_archive, progress)
    except BaseException:
        if created:  # a failed first run leaves no empty folder behind either
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    result["seconds"] = time.perf_counter() - start
    return result


def _prepare_locked(folder: Path, archive, download_from: str | None, name: str, expected: str | None, force: bool,
                    keep_archive: bool, progress: bool) -> dict[str, Any]:
    final = folder / FOLDER
    with _locked(folder):
        _remove_leftovers(folder, name)
        if final.is_dir() and not force:
            marker = _read_marker(final)
            if marker is not None and all((final / n).is_file() for n in LISTS):
                return {**marker, "status": "ready", "root": str(final)}
            try:
                layout = check_layout(final)
            except DataPrepError as exc:
                raise DataPrepError(f"{final} exists but is not complete ({exc}); remove it or pass --force to "
                                    "replace it") from exc
            return {**layout.summary(), "status": "found", "root": str(final), "source": None, "sha256": None,
                    "verified": False}
        if final.exists() and not final.is_dir():
            raise DataPrepError(f"{final} is a file; remove it")
        if archive is None and download_from is None:
            raise DataPrepError(f"{final} is not prepared yet: pass --archive PATH (a local {OFFICIAL_NAME}) or "
                                "--download")

        downloaded: Path | None = None
        if download_from is not None:
            downloaded, digest = download(download_from, folder, progress=progress)
            try:
                _check_digest(f"the download of {download_from}", expected, digest)
            except BaseException:
                downloaded.unlink(missing_ok=True)
                raise
            source, tarball = download_from, downloaded
        else:
            tarball = Path(archive)
            source = str(tarball)
            digest = None
            if expected is not None:
                digest = sha256_file(tarball, progress=progress)
                _check_digest(str(tarball), expected, digest)
        try:
            layout = _extract_and_install(tarball, folder, final, force=force, progress=progress,
                                          record={"source": source, "sha256": digest,
                                                  "verified": expected is not None})
        except BaseException as exc:
            if downloaded is not None:
                kept = folder / name
                os.replace(downloaded, kept)
                if isinstance(exc, DataPrepError):
                    raise DataPrepError(f"{exc}; the downloaded archive is kept as {kept} (pass --archive "
                                        f"{kept} to retry)") from exc
            raise
        result = {**layout.summary(), "status": "prepared", "root": str(final), "source": source, "sha256": digest,
                  "verified": expected is not None}
        if downloaded is not None:
            if keep_archive:
                os.replace(downloaded, folder / name)
                result["archive"] = str(folder / name)
            else:
                downloaded.unlink(missing_ok=True)
    return result


def _extract_and_install(tarball: Path, folder: Path, final: Path, *, force: bool, progress: bool,
                         record: dict[str, Any]) -> Layout:
    """Extract into a hidden folder of ``folder``, check it, write the marker, rename it to ``final``."""
    from audionoise.io.files import atomic_write

    _check_free_space(folder, tarball.stat().st_size, f"extracting {tarball.name}")
    tmp = _temp_dir(folder, "partial")
    tmp.mkdir()
    try:
        safe_extract(tarball, tmp, progress=progress)
        root = _find_root(tmp)
        layout = check_layout(root, where=f"{tarball} (extracted)")
        atomic_write(root / MARKER, json.dumps({**record, **layout.summary()}, indent=1) + "\n")
        old = None
        if final.exists():  # --force: the old folder goes only once the new one is complete
            old = _temp_dir(folder, "old")
            final.rename(old)
        root.rename(final)
        layout.root = final
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return layout
