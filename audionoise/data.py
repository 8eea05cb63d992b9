"""Torch datasets for on-the-fly augmentation: audio folders, NeMo-style manifests, padding, per-item noise.

Items are tuples ``(waveform, metadata)``: ``waveform`` is float32 ``(channels, time)`` as :func:`audionoise.io.load`
returns it, ``metadata`` a dict with at least ``"path"`` (the file read) and ``"sample_rate"`` (of the returned
waveform). :func:`pad_collate` turns a list of items into ``(x, lengths, metadata_list)`` following the shape rule
of the injectors: ``x`` is ``(batch, time)`` when every item is mono, ``(batch, channels, time)`` otherwise.

:class:`AugmentedDataset` wraps any dataset whose items start with a waveform and augments item ``i`` of epoch
``e`` with a generator seeded from ``(seed, e, i)`` alone (:func:`derive_seed`), so the tensors do not depend on
the number of DataLoader workers, the order of access or the batch an item lands in. For augmenting whole padded
batches on the GPU in the training step instead, seed the pipeline with :func:`batch_generator`.

Example:
    >>> from torch.utils.data import DataLoader
    >>> ds = AugmentedDataset(AudioFolder("clips", sample_rate=16000), WhiteNoise(0, 20), seed=0)  # doctest: +SKIP
    >>> loader = DataLoader(ds, batch_size=8, num_workers=2, collate_fn=pad_collate)  # doctest: +SKIP
    >>> for epoch in range(3):  # doctest: +SKIP
    ...     ds.set_epoch(epoch)
    ...     for x, lengths, meta in loader:
    ...         ...
"""

from __future__ import annotations

import inspect
import operator
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from audionoise.plan import augment, plannable
from audionoise import io

from audionoise.corpora import manifests as _manifest

from audionoise.kernels import seeds as _seed
from audionoise.io.files import _scan_folder

__all__ = ["AudioFolder", "AudioManifest", "AugmentedDataset", "batch_generator", "derive_seed", "pad_collate"]

#: Metadata keys that the datasets set themselves (a manifest line may not use them for something else).
RESERVED_KEYS = ("path", "sample_rate")


# ---------------------------------------------------------------------------------------------- seeds
def _count(name: str, value: Any, minimum: int | None = 0) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} ({value}) must be >= {minimum}")
    return value


def derive_seed(seed: int, epoch: int, index: int) -> int:
    """The 63-bit seed of item (or batch) ``index`` in ``epoch``: BLAKE2b-64 of ``"{seed}\\0{epoch}\\0{index}"``.

    The first 8 digest bytes read little-endian, shifted right by one bit, so the value fits a signed int64 and
    ``torch.Generator.manual_seed``. It depends on its three arguments only.

    Example:
        >>> derive_seed(0, 1, 5) == derive_seed(0, 1, 5) != derive_seed(0, 2, 5)
        True
    """
    seed = _count("seed", seed, minimum=None)
    epoch, index = _count("epoch", epoch), _count("index", index)
    return _seed.derive_seed(seed, epoch, index)  # the one seed helper: same NUL-joined BLAKE2b-64 bytes


def batch_generator(seed: int, epoch: int, batch_index: int,
                    device: torch.device | str | None = None) -> torch.Generator:
    """A generator on ``device`` seeded with :func:`derive_seed` ``(seed, epoch, batch_index)``.

    For augmenting a whole padded batch in the training step (on the GPU), the per-batch counterpart of
    :class:`AugmentedDataset`: ``pipe(x.to(device), lengths.to(device), batch_generator(seed, epoch, b, device))``.
    The result is reproducible given the sampler's order (which batch holds which items); CPU and CUDA
    generators draw different streams from the same seed.

    Example:
        >>> g = batch_generator(0, epoch=3, batch_index=17)
        >>> g.initial_seed() == derive_seed(0, 3, 17)
        True
    """
    return torch.Generator(device=device if device is not None else "cpu").manual_seed(
        derive_seed(seed, epoch, batch_index))


def _item_index(index: Any, size: int) -> int:
    i = operator.index(index)
    if i < 0:
        i += size
    if not 0 <= i < size:
        raise IndexError(f"index {index} is out of range for a dataset of {size} items")
    return i


def _check_rate(sample_rate: int | None) -> int | None:
    if sample_rate is None:
        return None
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz) or None (keep each file's rate), "
                         f"got {sample_rate!r}")
    return sample_rate


# ---------------------------------------------------------------------------------------------- folders
def _check_extensions(extensions: Iterable[str] | str) -> frozenset[str]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    out = set()
    for ext in extensions:
        ext = str(ext).lower()
        ext = ext if ext.startswith(".") else "." + ext
        if ext not in io.AUDIO_EXTENSIONS:
            raise ValueError(f"extension {ext!r} is not read by audionoise.io; use some of "
                             f"{', '.join(sorted(io.AUDIO_EXTENSIONS))}")
        out.add(ext)
    if not out:
        raise ValueError("extensions is empty; pass at least one, e.g. ('.wav', '.flac')")
    return frozenset(out)


class AudioFolder(Dataset):
    """Every audio file under ``root`` (recursive, sorted by relative path) as ``(waveform, metadata)``.

    ``waveform`` is float32 ``(channels, time)`` from :func:`audionoise.io.load` (resampled to ``sample_rate``
    when given, channels averaged when ``mono``); ``metadata`` is ``{"path": str, "relative_path": str,
    "sample_rate": int}`` (``relative_path`` in posix form, e.g. ``"spk1/a.wav"``). Hidden files and folders are
    skipped and symlinked folders not followed. A file that cannot be decoded raises
    :class:`audionoise.io.AudioFileError` naming it when its item is read.

    Args:
        root: Folder to scan.
        sample_rate: Rate in Hz to resample every file to, or ``None`` to keep each file's rate (then a batch of
            files with different rates is an error in :func:`pad_collate`).
        extensions: File extensions to include (case-insensitive, with or without the dot); default: every
            extension :mod:`audionoise.io` reads.
        mono: Average the channels of every file into one.
        label_from: ``None`` (no labels) or ``"folder"``: the class of a file is the first folder of its
            relative path (``root/yes/a.wav`` and ``root/yes/spk1/b.wav`` are class ``"yes"``, as in Speech
            Commands); :attr:`classes` lists the class names sorted, :attr:`labels` each item's class index, and
            ``metadata`` gains ``"label"`` (the index) and ``"class_name"``.

    Raises:
        ValueError: ``root`` is not a folder or holds no audio file; bad ``sample_rate``, ``extensions`` or
            ``label_from``; with ``label_from="folder"``, audio files directly in ``root`` (no class folder).

    Example:
        >>> ds = AudioFolder("clips", sample_rate=16000, extensions=(".wav", ".flac"))  # doctest: +SKIP
        >>> x, meta = ds[0]  # doctest: +SKIP
        >>> x.shape, meta["relative_path"]  # doctest: +SKIP
        (torch.Size([1, 16000]), 'spk1/a.wav')
        >>> words = AudioFolder("speech_commands", label_from="folder")  # doctest: +SKIP
        >>> words.classes[:3], words[0][1]["label"]  # doctest: +SKIP
        (['backward', 'bed', 'bird'], 0)
    """

    def __init__(self, root: str | os.PathLike, sample_rate: int | None = None,
                 extensions: Iterable[str] | str = io.AUDIO_EXTENSIONS, mono: bool = False,
                 label_from: str | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"{self.root}: not a folder; pass the folder that holds the audio files")
        self.sample_rate = _check_rate(sample_rate)
        self.extensions = _check_extensions(extensions)
        self.mono = bool(mono)
        #: relative posix paths of the files, in item order
        self.files: list[str] = _scan_folder(self.root, self.extensions)
        if not self.files:
            raise ValueError(f"{self.root}: no audio files with extension {', '.join(sorted(self.extensions))} "
                             "under it (hidden files and folders are skipped); check the folder and extensions")
        if label_from not in (None, "folder"):
            raise ValueError(f"label_from must be None or 'folder', got {label_from!r}")
        self.label_from = label_from
        #: class names, sorted (``label_from="folder"``; else empty)
        self.classes: list[str] = []
        #: each item's class index into :attr:`classes` (``label_from="folder"``; else empty)
        self.labels: list[int] = []
        if label_from == "folder":
            loose = [f for f in self.files if "/" not in f]
            if loose:
                raise ValueError(f"{self.root}: label_from='folder' takes the class from a file's folder, but "
                                 f"{len(loose)} file(s) lie directly in it (e.g. {loose[0]!r}); move them into "
                                 f"class folders or leave label_from out")
            names = [f.partition("/")[0] for f in self.files]
            self.classes = sorted(set(names))
            index = {c: i for i, c in enumerate(self.classes)}
            self.labels = [index[n] for n in names]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        i = _item_index(index, len(self))
        rel = self.files[i]
        path = self.root / rel
        x, sr = io.load(path, sample_rate=self.sample_rate, mono=self.mono)
        meta = {"path": str(path), "relative_path": rel, "sample_rate": sr}
        if self.labels:
            label = self.labels[i]
            meta.update(label=label, class_name=self.classes[label])
        return x, meta


# ---------------------------------------------------------------------------------------------- manifests
def _file_rate(key: str, value: Any) -> bool:
    """A ``sample_rate`` field holding a rate in Hz (the file's, as the offline job's manifests write it): allowed,
    the metadata's ``sample_rate`` (the returned waveform's) takes its place."""
    return key == "sample_rate" and isinstance(value, int) and not isinstance(value, bool) and value > 0


def read_manifest(path: Path) -> list[_manifest.Row]:
    """The rows of the manifest ``path`` (:func:`audionoise.corpora.manifests.iter_lines`); ``ValueError`` at the first bad
    line or the first line that sets a field of :data:`RESERVED_KEYS`, naming the manifest and the line."""
    rows = []
    for row in _manifest.iter_lines(path):
        if isinstance(row, _manifest.BadLine):
            raise ValueError(row.reason)
        reserved = [k for k in RESERVED_KEYS if k in row.fields and not _file_rate(k, row.fields[k])]
        if reserved:
            raise ValueError(f"{path}:{row.line}: field {reserved[0]!r} is set by AudioManifest itself (the file read, "
                             "the rate of the returned waveform); rename it in the manifest")
        rows.append(row)
    return rows


class AudioManifest(Dataset):
    """The audio of a NeMo-style JSONL manifest as ``(waveform, metadata)``, one item per non-blank line.

    Each line is a JSON object with ``"audio_filepath"`` (absolute, or relative to the manifest's folder),
    usually ``"duration"`` and optionally ``"offset"`` (seconds), parsed by :mod:`audionoise.corpora.manifests` with the
    package's one segment rule (its docstring): a line with ``offset`` is the segment of ``duration`` seconds
    from there (without ``duration``, to the end of the file), read by seeking (:func:`audionoise.io.load`
    ``offset``/``duration``); a line without ``offset`` is the whole file, its ``duration`` informative (NeMo
    whole-file manifests round it). ``metadata`` is every field of the line (``"text"``, ``"label"``, ... as
    written) plus ``"path"`` (the resolved audio file) and ``"sample_rate"`` (of the returned waveform).

    The manifest is parsed when the dataset is built; audio files are opened only when their item is read.

    Args:
        path: The JSONL manifest.
        sample_rate: Rate in Hz to resample every segment to, or ``None`` to keep each file's rate.
        mono: Average the channels into one.

    Raises:
        ValueError: naming the manifest and line number: not UTF-8, invalid JSON, not an object, missing
            ``audio_filepath``, bad ``offset``/``duration`` (on any line, an informative ``duration`` too), a
            reserved field (``path``; ``sample_rate`` unless it is a rate in Hz, as in the offline job's
            ``OUT/manifest.jsonl``, which this class reads as is); or a missing or empty manifest.
        audionoise.io.AudioFileError: (when an item is read) the audio file cannot be decoded; the message names
            the file and the manifest line.

    Example:
        >>> ds = AudioManifest("train.jsonl", sample_rate=16000)  # doctest: +SKIP
        >>> x, meta = ds[0]  # doctest: +SKIP
        >>> meta["text"], meta["sample_rate"]  # doctest: +SKIP
        ('turn the lights on', 16000)
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int | None = None, mono: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no such manifest file; pass a JSONL file with one "
                             '{"audio_filepath": ..., "duration": ...} object per line')
        self.sample_rate = _check_rate(sample_rate)
        self.mono = bool(mono)
        #: the parsed lines (:class:`audionoise.corpora.manifests.Row`: line number, fields, resolved path, segment), in order
        self.entries = read_manifest(self.path)
        if not self.entries:
            raise ValueError(f"{self.path}: the manifest has no entries (only blank lines)")

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        row = self.entries[_item_index(index, len(self))]
        try:
            x, sr = io.load(row.path, sample_rate=self.sample_rate, mono=self.mono, offset=row.offset,
                            duration=row.duration)
        except io.AudioFileError as err:
            raise io.AudioFileError(err.path, f"{err.reason} (line {row.line} of {self.path})") from None
        return x, {**row.fields, "path": str(row.path), "sample_rate": sr}


# ---------------------------------------------------------------------------------------------- collate
def _split_item(item: Any, i: int) -> tuple[Tensor, tuple]:
    if isinstance(item, Tensor):
        wave, rest = item, ()
    elif isinstance(item, (tuple, list)) and item and isinstance(item[0], Tensor):
        wave, rest = item[0], tuple(item[1:])
    else:
        raise ValueError(f"item {i} is a {type(item).__name__}; items must be a waveform tensor "
                         "or a tuple/list starting with one, e.g. (waveform, metadata)")
    if wave.dim() not in (1, 2):
        raise ValueError(f"item {i} has a waveform of shape {tuple(wave.shape)}; each item must be one clip, "
                         "(time,) or (channels, time)")
    return wave, rest


def _item_rate(rest: tuple) -> int | None:
    for part in rest:
        if isinstance(part, dict) and "sample_rate" in part:
            return part["sample_rate"]
    return None


def _collate_field(values: list[Any]) -> Any:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.int64)
    if all(isinstance(v, Tensor) for v in values) and len({v.shape for v in values}) == 1:
        return torch.stack(values)
    return list(values)


def pad_collate(items: Sequence[Any]) -> tuple:
    """Stack clips of different lengths into one zero-padded batch: ``(x, lengths, *rest)``.

    Each item is a waveform ``(channels, time)`` (or ``(time,)``, one mono clip), alone or first in a tuple such
    as ``(waveform, metadata)``. ``x`` follows the injectors' shape rule: ``(batch, time)`` when every item has
    one channel, ``(batch, channels, time)`` when they have more; ``time`` is the longest item and the rest is
    zeros. ``lengths`` is int64 ``(batch,)``, each item's number of samples. ``rest`` holds the other tuple
    fields, position by position: Python ints become an int64 tensor (class labels), tensors of equal shape are
    stacked, everything else (metadata dicts, strings, floats, records) becomes a list.

    Raises:
        ValueError: no items; items of different channel counts, dtypes or tuple sizes; metadata dicts whose
            ``"sample_rate"`` differ (resample with the dataset's ``sample_rate=``).

    Example:
        >>> x, lengths = pad_collate([torch.ones(1, 3), torch.ones(1, 5)])
        >>> x.shape, lengths.tolist(), x[0].tolist()
        (torch.Size([2, 5]), [3, 5], [1.0, 1.0, 1.0, 0.0, 0.0])
    """
    if len(items) == 0:
        raise ValueError("pad_collate got no items; a batch needs at least one")
    waves, rests = zip(*(_split_item(item, i) for i, item in enumerate(items)))
    waves = [w[None] if w.dim() == 1 else w for w in waves]
    for i, (w, rest) in enumerate(zip(waves, rests)):
        if w.shape[0] != waves[0].shape[0]:
            raise ValueError(f"item {i} has {w.shape[0]} channel(s) but item 0 has {waves[0].shape[0]}; one batch "
                             "needs one channel count (load with mono=True, or batch files by channel count)")
        if w.dtype != waves[0].dtype:
            raise ValueError(f"item {i} has dtype {w.dtype} but item 0 has {waves[0].dtype}")
        if len(rest) != len(rests[0]):
            raise ValueError(f"item {i} has {len(rest) + 1} fields but item 0 has {len(rests[0]) + 1}")
        rate, rate0 = _item_rate(rest), _item_rate(rests[0])
        if rate != rate0:
            raise ValueError(f"item {i} has sample rate {rate} Hz but item 0 has {rate0} Hz; pass sample_rate= to "
                             "the dataset so every clip is resampled to one rate")
    lengths = torch.tensor([w.shape[-1] for w in waves], dtype=torch.int64)
    x = waves[0].new_zeros((len(waves), waves[0].shape[0], int(lengths.max())))
    for k, w in enumerate(waves):
        x[k, :, : w.shape[-1]] = w
    if x.shape[1] == 1:
        x = x[:, 0]
    return (x, lengths, *(_collate_field([rest[k] for rest in rests]) for k in range(len(rests[0]))))


# ---------------------------------------------------------------------------------------------- augmentation
def _takes_return_params(pipeline: nn.Module) -> bool:
    """Whether records can be asked of ``pipeline``: any audionoise injector or pipeline (the plan API), or a
    module whose ``forward`` takes ``return_params``."""
    if plannable(pipeline):
        return True
    try:
        return "return_params" in inspect.signature(pipeline.forward).parameters
    except (TypeError, ValueError):
        return False


class AugmentedDataset(Dataset):
    """Augment the waveform of every item of ``dataset`` with ``pipeline``, reproducibly per (seed, epoch, item).

    Item ``i`` read in epoch ``e`` (set with :meth:`set_epoch`) is augmented with a fresh
    ``torch.Generator().manual_seed(derive_seed(seed, e, i))``, and nothing else random: 0, 1 or N DataLoader
    workers, any shuffling and any access order give bit-identical tensors (at equal torch thread counts; each
    DataLoader worker runs one thread), and every epoch draws new augmentations.

    The wrapped items start with a waveform (a tensor, or a tuple ``(waveform, ...)`` such as the items of
    :class:`AudioFolder`); the rest of the item is passed through. A mono item ``(1, time)`` goes to the pipeline
    as a batch of one mono clip, a multichannel item ``(channels, time)`` as one multichannel example
    ``(1, channels, time)`` (so all its channels get one SNR and gain); ``(time,)`` as one mono clip. The
    augmented waveform has the item's shape, except with a length-changing pipeline (``SpeedPerturb``,
    ``TimeStretch``: ``changes_length``), whose waveform comes back with its new length (``(channels, new_time)``;
    :func:`pad_collate` then pads the batch and gives the new lengths). The rest of the item is passed through as
    it is (a manifest's ``"duration"`` keeps the input's value). With ``return_params=True`` the item gets one
    more field at the end: the pipeline's records for it (a list with one dict per leaf transform).

    The epoch lives in a shared-memory tensor, so :meth:`set_epoch` in the main process reaches DataLoader
    workers whether they are re-created every epoch or kept (``persistent_workers=True``), with fork or spawn.
    Call it before iterating the loader for that epoch. It is forwarded to ``dataset.set_epoch`` when the
    wrapped dataset has one.

    Args:
        dataset: Any map-style dataset whose items start with a waveform.
        pipeline: An audionoise injector or pipeline on the CPU, called as ``pipeline(x, None, generator)``
            (waveform transforms only: spectrogram masks belong after the features).
        seed: Integer seed of the whole augmentation.
        return_params: Also return the records; needs a pipeline (``Compose``/``OneOf``/``RandomApply``).

    Example:
        >>> ds = AugmentedDataset(AudioFolder("clips", sample_rate=16000),  # doctest: +SKIP
        ...                       Compose([WhiteNoise(0, 20)]), seed=0, return_params=True)
        >>> ds.set_epoch(1)  # doctest: +SKIP
        >>> y, meta, records = ds[0]  # doctest: +SKIP
        >>> records[0]["transform"]  # doctest: +SKIP
        'WhiteNoise'
    """

    def __init__(self, dataset: Dataset, pipeline: nn.Module, seed: int = 0, return_params: bool = False) -> None:
        if not callable(pipeline):
            raise ValueError(f"pipeline must be an audionoise injector or pipeline, got {type(pipeline).__name__}")
        if isinstance(pipeline, nn.Module) and any(getattr(m, "spectrogram", False) for m in pipeline.modules()):
            raise ValueError("pipeline holds spectrogram transforms; AugmentedDataset augments waveforms: apply "
                             "spectrogram masks after the features, in the training step")
        if return_params and not _takes_return_params(pipeline):
            raise ValueError(f"return_params=True needs an audionoise injector or pipeline (records come from the plan "
                             f"API), got {type(pipeline).__name__}")
        self.dataset = dataset
        self.pipeline = pipeline
        self.seed = _count("seed", seed, minimum=None)
        self.return_params = bool(return_params)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (0 at first)."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the items read from now on (in this process and in every DataLoader worker)."""
        self._epoch.fill_(_count("epoch", epoch))
        inner = getattr(self.dataset, "set_epoch", None)
        if callable(inner):
            inner(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        i = _item_index(index, len(self))
        item = self.dataset[i]
        wave, rest = _split_item(item, i)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, i))
        y, records = self._augment(wave, generator)
        extra = (records,) if self.return_params else ()
        if isinstance(item, Tensor):
            return (y, *extra) if extra else y
        return (y, *rest, *extra)

    def _augment(self, wave: Tensor, generator: torch.Generator) -> tuple[Tensor, list | None]:
        multichannel = wave.dim() == 2 and wave.shape[0] > 1
        x = wave[None] if multichannel else wave  # (1, channels, time), or a batch of one mono clip / one clip
        if not plannable(self.pipeline):  # any other callable: its output as it gives it
            out = self.pipeline(x, None, generator)
            y = out[0] if isinstance(out, tuple) else out
            return (y[0] if multichannel else y), None
        out = augment(self.pipeline, x, None, generator, record=self.return_params)
        y = out.audio
        if out.lengths is not None:  # a length-changing transform: the one example's new length
            y = y[..., :int(out.lengths.reshape(-1)[0])]
        records = out.records[0] if self.return_params else None
        return (y[0] if multichannel else y), records
