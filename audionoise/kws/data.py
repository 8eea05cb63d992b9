"""Speech Commands dataset (Warden 2018 layout) for keyword spotting.

A root folder holds one sub-folder per word with clips named ``<speaker>_nohash_<n>.wav``, the
split files ``validation_list.txt`` and ``testing_list.txt`` (paths relative to the root, e.g.
``yes/0a7c2a8d_nohash_0.wav``) and ``_background_noise_/`` with long noise recordings. Files
listed in a split file belong to that subset, every other clip to ``training``; the background
folder is never a word. This is the layout of the real Speech Commands v2 download and of the
synthetic set made by :func:`audionoise.synth.ensure_bundled_data`.

12-class mode (``labels="v2-12"``, the standard benchmark) uses the 10 words of
:data:`V2_12_WORDS` plus ``_silence_`` and ``_unknown_``. As in the TensorFlow recipe, with ``K``
clips of the target words in the subset it adds ``ceil(silence_fraction * K)`` silence examples
(1-s windows cut from the background clips at deterministic random offsets, scaled by a
deterministic volume ``U(0, 1)``; zeros when there is no background folder) and
``ceil(unknown_fraction * K)`` clips drawn without repetition from the other words. The same
rule applies to any label list that contains ``"_silence_"`` / ``"_unknown_"``.

Example:
    >>> ds = SpeechCommands("data/generated/kws", "validation")  # doctest: +SKIP
    >>> x, length, label = ds[0]  # doctest: +SKIP
    >>> x.shape, ds.labels[label]  # doctest: +SKIP
    (torch.Size([1, 16000]), 'bed')
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from audionoise import io
from audionoise.corpora.speech_commands import V2_12_WORDS
from audionoise.kernels.seeds import derive_seed

__all__ = ["SpeechCommands", "collate", "split_unreadable", "V2_12_WORDS", "SILENCE", "UNKNOWN",
           "BACKGROUND_FOLDER"]

#: the labels of the two extra classes of the 12-class task, and the noise folder of a Speech Commands tree
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
BACKGROUND_FOLDER = "_background_noise_"
SUBSETS = ("training", "validation", "testing")
_SPLIT_FILES = {"validation": "validation_list.txt", "testing": "testing_list.txt"}


def _read_split(root: Path, name: str) -> set[str]:
    path = root / _SPLIT_FILES[name]
    if not path.is_file():
        raise ValueError(
            f"split file {path} is missing; a Speech Commands root needs validation_list.txt and "
            "testing_list.txt (paths like 'yes/abc_nohash_0.wav', one per line): download the full "
            "data set or run `audionoise make-data`"
        )
    lines = path.read_text().splitlines()
    return {ln.strip().replace("\\", "/") for ln in lines if ln.strip()}


def _resolve_labels(labels, words: list[str], root: Path) -> list[str]:
    if isinstance(labels, str):
        if labels == "v2-12":
            missing = [w for w in V2_12_WORDS if w not in words]
            if missing:
                raise ValueError(
                    f"labels='v2-12' needs the word folders {missing} in {root}; pass labels='all' "
                    "or a list of the words present"
                )
            return V2_12_WORDS + [SILENCE, UNKNOWN]
        if labels == "all":
            return list(words)
        raise ValueError(f"labels ({labels!r}) must be 'v2-12', 'all' or a list of words")
    labels = list(labels)
    if not labels or not all(isinstance(w, str) for w in labels):
        raise ValueError(f"labels ({labels!r}) must be a non-empty list of word strings")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels ({labels!r}) contains duplicates; list each class once")
    unknown = [w for w in labels if w not in words and w not in (SILENCE, UNKNOWN)]
    if unknown:
        raise ValueError(
            f"label(s) {unknown} have no word folder in {root}; available words: {', '.join(words)} "
            f"(plus the special classes {SILENCE!r} and {UNKNOWN!r})"
        )
    return labels


def _fit(x: Tensor, clip_samples: int) -> tuple[Tensor, int]:
    """Zero-pad at the end or centre-crop ``x`` ``(1, time)`` to ``clip_samples``; returns (clip, valid)."""
    n = x.shape[-1]
    if n >= clip_samples:
        start = (n - clip_samples) // 2
        return x[:, start : start + clip_samples].contiguous(), clip_samples
    return torch.nn.functional.pad(x, (0, clip_samples - n)), n


class SpeechCommands(torch.utils.data.Dataset):
    """Keyword-spotting clips from a Speech-Commands-layout folder.

    Args:
        root: Folder with one sub-folder per word and the two split files.
        subset: ``"training"``, ``"validation"`` or ``"testing"``.
        labels: ``"v2-12"`` (10 words + ``_silence_`` + ``_unknown_``), ``"all"`` (every word
            folder, sorted) or a list of class names (words, optionally ``"_silence_"`` and
            ``"_unknown_"``); index in :attr:`labels` is the class id.
        clip_seconds: Every example is zero-padded at the end, or centre-cropped, to this length.
        sample_rate: Clips are resampled to this rate on load.
        silence_fraction: Silence examples per target-word clip (only with ``_silence_``).
        unknown_fraction: Other-word clips per target-word clip (only with ``_unknown_``).
        seed: Seeds the choice of unknown clips and silence windows (with the subset name).
        preload: Decode every clip once in ``__init__`` and keep them in memory (small sets).
        skip_unreadable: A clip that fails to decode gives the marker item ``(zeros, 0, -1 - index)`` instead
            of raising, so a DataLoader batch survives it; :func:`split_unreadable` takes such items out of a
            batch and names them. (Check headers first with :meth:`check_files` to drop bad files up front.)

    Attributes:
        labels: Class names.
        sample_rate: Rate of the returned waveforms.
        clip_samples: ``round(clip_seconds * sample_rate)``.
        targets: Class id of each example (for samplers and statistics).
        files: Path of each example's audio file, ``None`` for silence.

    Items are ``(waveform (1, clip_samples) float32, valid_length, label)``.

    Raises:
        ValueError: missing root or split file, bad subset/labels/fractions, a label without a
            folder, or no clips of the requested words in the subset.

    Example:
        >>> ds = SpeechCommands("SpeechCommands/speech_commands_v0.02", "testing",
        ...                     labels="all")  # doctest: +SKIP
        >>> len(ds.labels)  # doctest: +SKIP
        35
    """

    def __init__(
        self,
        root: str | os.PathLike,
        subset: str = "training",
        labels="v2-12",
        clip_seconds: float = 1.0,
        sample_rate: int = 16000,
        silence_fraction: float = 0.1,
        unknown_fraction: float = 0.1,
        seed: int = 0,
        preload: bool = False,
        skip_unreadable: bool = False,
    ) -> None:
        root = Path(root)
        if subset not in SUBSETS:
            raise ValueError(f"subset ({subset!r}) must be one of {', '.join(SUBSETS)}")
        for name, value in (("silence_fraction", silence_fraction), ("unknown_fraction", unknown_fraction)):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} ({value!r}) must be a finite number >= 0")
        if not (clip_seconds > 0 and math.isfinite(clip_seconds)):
            raise ValueError(f"clip_seconds ({clip_seconds!r}) must be > 0")
        if int(sample_rate) != sample_rate or sample_rate <= 0:
            raise ValueError(f"sample_rate ({sample_rate!r}) must be a positive integer number of Hz")
        if not root.is_dir():
            raise ValueError(
                f"Speech Commands root {root} is not a folder; run `audionoise make-data` for the "
                "bundled synthetic set or point it at the extracted speech_commands_v0.02 folder"
            )
        words = sorted(
            d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))
        )
        if not words:
            raise ValueError(f"{root} has no word folders (like yes/, no/); is it the data set root?")
        splits = {name: _read_split(root, name) for name in _SPLIT_FILES}

        self.root = root
        self.subset = subset
        self.labels: list[str] = _resolve_labels(labels, words, root)
        self.sample_rate = int(sample_rate)
        self.clip_samples = int(round(clip_seconds * self.sample_rate))
        self.seed = seed
        self.skip_unreadable = bool(skip_unreadable)

        clips = {w: self._subset_files(w, splits) for w in words}
        index = {name: i for i, name in enumerate(self.labels)}
        entries: list[tuple[Path | None, int]] = [
            (root / rel, index[w]) for w in words if w in index for rel in clips[w]
        ]
        if not entries:
            raise ValueError(f"{root} has no {subset} clips of the words {self.labels}")
        g = torch.Generator().manual_seed(derive_seed(seed, "speech-commands", subset))
        known = len(entries)
        if UNKNOWN in index:
            others = [root / rel for w in words if w not in index for rel in clips[w]]
            take = min(len(others), math.ceil(unknown_fraction * known))
            pick = sorted(torch.randperm(len(others), generator=g)[:take].tolist())
            entries += [(others[i], index[UNKNOWN]) for i in pick]
        self._silence: list[tuple[int, int, float]] = []
        self._background: list[Tensor] = []
        if SILENCE in index:
            count = math.ceil(silence_fraction * known)
            if count:
                self._background = self._load_background()
            for _ in range(count):
                self._silence.append(self._silence_window(g))
                entries.append((None, index[SILENCE]))
        self.files: list[Path | None] = [e[0] for e in entries]
        self.targets: list[int] = [e[1] for e in entries]
        self._cache: tuple[Tensor, Tensor] | None = None
        if preload:
            self.preload()

    def preload(self) -> None:
        """Decode every clip into memory now (unreadable ones, with ``skip_unreadable``, stay markers)."""
        items = [self._read_or_mark(i) for i in range(len(self))]
        self._cache = (torch.stack([x for x, _ in items]), torch.tensor([n for _, n in items]))

    def check_files(self) -> list:
        """Every unreadable clip file of this subset, from its header alone (:func:`audionoise.corpora.scan.scan_headers`)."""
        from audionoise.corpora.scan import scan_headers

        return scan_headers(self.files)

    def exclude(self, paths) -> int:
        """Leave the clips whose file is in ``paths`` out of the data set; return how many were removed."""
        drop = {str(p) for p in paths}
        keep = [i for i, f in enumerate(self.files) if f is None or str(f) not in drop]
        removed = len(self.files) - len(keep)
        if removed:
            self.files = [self.files[i] for i in keep]
            self.targets = [self.targets[i] for i in keep]  # silence entries stay last: _read's index holds
            if self._cache is not None:
                self._cache = (self._cache[0][keep], self._cache[1][keep])
        return removed

    def _read_or_mark(self, i: int) -> tuple[Tensor, int]:
        try:
            return self._read(i)
        except io.AudioFileError:
            if not self.skip_unreadable:
                raise
            return torch.zeros(1, self.clip_samples), -1

    def _subset_files(self, word: str, splits: dict[str, set[str]]) -> list[str]:
        rels = sorted(
            f"{word}/{f.name}"
            for f in (self.root / word).iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in io.AUDIO_EXTENSIONS
        )
        if self.subset == "training":
            return [r for r in rels if r not in splits["validation"] and r not in splits["testing"]]
        return [r for r in rels if r in splits[self.subset]]

    def _load_background(self) -> list[Tensor]:
        folder = self.root / BACKGROUND_FOLDER
        if not folder.is_dir():
            return []
        files = sorted(
            f for f in folder.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in io.AUDIO_EXTENSIONS
        )
        return [io.load(f, sample_rate=self.sample_rate, mono=True)[0][0] for f in files]

    def _silence_window(self, g: torch.Generator) -> tuple[int, int, float]:
        """(background clip, offset, volume) of one silence example; clip -1 means zeros."""
        volume = float(torch.rand((), generator=g))
        if not self._background:
            return -1, 0, volume
        clip = int(torch.randint(0, len(self._background), (), generator=g))
        room = max(0, self._background[clip].numel() - self.clip_samples)
        offset = int(torch.randint(0, room + 1, (), generator=g))
        return clip, offset, volume

    def _read(self, i: int) -> tuple[Tensor, int]:
        path = self.files[i]
        if path is not None:
            x, _ = io.load(path, sample_rate=self.sample_rate, mono=True)
            return _fit(x, self.clip_samples)
        clip, offset, volume = self._silence[i - (len(self.files) - len(self._silence))]
        if clip < 0:
            return torch.zeros(1, self.clip_samples), self.clip_samples
        window = self._background[clip][offset : offset + self.clip_samples] * volume
        return _fit(window[None], self.clip_samples)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for a data set of {len(self)} examples")
        i %= len(self)
        if self._cache is not None:
            x, n = self._cache[0][i].clone(), int(self._cache[1][i])
        else:
            x, n = self._read_or_mark(i)
        if n < 0:
            return x, 0, -1 - i  # unreadable (skip_unreadable): see split_unreadable
        return x, n, self.targets[i]

    def __repr__(self) -> str:
        return (
            f"SpeechCommands(root={str(self.root)!r}, subset={self.subset!r}, "
            f"{len(self)} examples, {len(self.labels)} labels)"
        )


def collate(batch) -> tuple[Tensor, Tensor, Tensor]:
    """Stack ``(waveform, length, label)`` items into ``x (B, 1, T)``, ``lengths (B,)``, ``y (B,)``.

    Example:
        >>> x, lengths, y = collate([(torch.zeros(1, 4), 3, 1), (torch.ones(1, 4), 4, 0)])
        >>> x.shape, lengths.tolist(), y.tolist()
        (torch.Size([2, 1, 4]), [3, 4], [1, 0])
    """
    waves, lengths, labels = zip(*batch)
    return (
        torch.stack(waves).float(),
        torch.tensor(lengths, dtype=torch.int64),
        torch.tensor(labels, dtype=torch.int64),
    )


def split_unreadable(x: Tensor, lengths: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """Take the unreadable-clip markers (label ``-1 - index``) out of a batch: ``(x, lengths, y, indices)``.

    Example:
        >>> x, n, y, bad = split_unreadable(torch.zeros(3, 1, 4), torch.tensor([4, 0, 4]), torch.tensor([2, -6, 0]))
        >>> x.shape[0], y.tolist(), bad
        (2, [2, 0], [5])
    """
    bad = y < 0
    if not bool(bad.any()):
        return x, lengths, y, []
    keep = ~bad
    return x[keep], lengths[keep], y[keep], (-1 - y[bad]).tolist()
