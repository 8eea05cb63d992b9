"""Names and seeds of outputs: pure functions of (seed, input key, copy index) and the output format."""

from __future__ import annotations

import functools
from pathlib import PurePosixPath, PureWindowsPath

from audionoise import io
from audionoise.kernels.seeds import derive_seed

__all__ = ["output_seed", "output_name", "output_subtype", "shard_of", "manifest_name", "safe_key",
           "converted_from"]

# Subtypes worth re-encoding as they are; others (ADPCM, GSM, ...) are lossy block codecs whose padding and
# noise would hurt the augmented audio: their outputs are written as 16-bit PCM instead.
_KEEP_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW",
                  "VORBIS", "OPUS", "MPEG_LAYER_III"}


def output_seed(seed: int, rel: str, copy: int) -> int:
    """Seed of output ``copy`` of input ``rel``: the first 63 bits of ``BLAKE2b(f"{seed}\\0{rel}\\0{copy}")``.

    Depends only on its arguments (not on the order of files, workers or shards).

    Example:
        >>> output_seed(0, "a/b.wav", 1) == output_seed(0, "a/b.wav", 1) != output_seed(0, "a/b.wav", 0)
        True
    """
    return derive_seed(int(seed), rel, int(copy))  # hashes exactly f"{seed}\0{rel}\0{copy}", as documented


def converted_from(rel: str, fmt: str) -> str | None:
    """The input extension (``"m4a"``) when output ``fmt="same"`` cannot keep it (read-only containers)."""
    if fmt != "same":
        return None
    ext = io._suffix(rel)  # without building a path on POSIX (asked for every output)
    return ext[1:] if ext in io.FFMPEG_EXTENSIONS else None


def output_name(rel: str, copy: int, fmt: str = "same") -> str:
    """Relative output path of copy ``copy`` of ``rel``: ``dir/stem_aug<copy><ext>``.

    ``fmt="same"`` keeps the extension (and its case), except for containers audionoise reads but cannot write
    (m4a, mp4, wma, ...: :data:`audionoise.io.FFMPEG_EXTENSIONS`), whose outputs are FLAC; ``"wav"``/``"flac"``
    replace it.

    Example:
        >>> output_name("spk1/a.b.WAV", 2), output_name("x.ogg", 0, "flac"), output_name("memo.m4a", 0)
        ('spk1/a.b_aug2.WAV', 'x_aug0.flac', 'memo_aug0.flac')
    """
    if converted_from(rel, fmt):
        fmt = "flac"
    head, _, name = rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = "." + ext if fmt == "same" and dot else f".{fmt}" if fmt != "same" else ""
    return f"{head}/{stem}_aug{copy}{ext}" if head else f"{stem}_aug{copy}{ext}"


@functools.lru_cache(maxsize=None)
def output_subtype(container: str, in_subtype: str) -> str:
    """Subtype for an output in ``container`` made from an input stored as ``in_subtype``.

    The input's subtype is kept when the container can hold it (24-bit stays 24-bit); lossy block codecs
    (ADPCM, GSM) and codecs libsndfile does not write (AAC, WMA, ...) become PCM_16; float or 32-bit input going
    to FLAC becomes PCM_24 (FLAC's best); a lossy input (Vorbis, Opus, MP3) going to a PCM container becomes
    PCM_16.

    Example:
        >>> output_subtype("WAV", "PCM_24"), output_subtype("FLAC", "FLOAT"), output_subtype("WAV", "IMA_ADPCM")
        ('PCM_24', 'PCM_24', 'PCM_16')
    """
    if in_subtype in _KEEP_SUBTYPES and io.subtype_allowed(container, in_subtype):
        return in_subtype
    if container == "FLAC" and in_subtype in ("PCM_32", "FLOAT", "DOUBLE"):
        return "PCM_24"
    return io.default_subtype(container)


def shard_of(index: int, shard: tuple[int, int]) -> bool:
    """Whether item ``index`` of the sorted input list belongs to ``shard = (i, n)`` (round robin)."""
    return index % shard[1] == shard[0]


def manifest_name(kind: str, shard: tuple[int, int]) -> str:
    """``manifest.jsonl`` / ``errors.jsonl``, or ``manifest.shard-I-of-N.jsonl`` when sharded."""
    return f"{kind}.jsonl" if shard[1] == 1 else f"{kind}.shard-{shard[0]}-of-{shard[1]}.jsonl"


def safe_key(path: str) -> str:
    """A relative posix path made from any path string, that cannot leave the folder it is joined to.

    Drive, root and ``.``/``..`` parts are dropped (``/data/../x.wav`` and ``C:\\x.wav`` give ``data/x.wav`` and
    ``x.wav``); the empty result becomes ``"audio"``. Used to name the outputs of manifest entries under OUT.

    Example:
        >>> safe_key("/corpus/spk1/a.wav"), safe_key("../../etc/b.flac"), safe_key("C:\\\\rec\\\\c.wav")
        ('corpus/spk1/a.wav', 'etc/b.flac', 'rec/c.wav')
    """
    pure = PureWindowsPath(path) if "\\" in path or (len(path) > 1 and path[1] == ":") else PurePosixPath(path)
    parts = pure.parts[1:] if pure.anchor else pure.parts
    parts = [p for p in parts if p not in ("", ".", "..")]
    return "/".join(parts) or "audio"
