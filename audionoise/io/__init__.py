"""Audio file input/output: the only module of audionoise that touches audio files.

Reading and writing go through `soundfile` (libsndfile), resampling through
`torchaudio.functional.resample`. Containers libsndfile cannot read (m4a/AAC, MP4 audio, WMA, AMR, ...:
:data:`FFMPEG_EXTENSIONS`) are decoded through PyAV when the ``audionoise[ffmpeg]`` extra is installed; they
are never written. Waveforms are float32 tensors shaped ``(channels, time)``.

Every problem with a file raises :class:`AudioFileError` (a ``ValueError``) whose
message names the file, says what is wrong and what to do about it, so that a
folder tool can log one clear line per bad file and go on.

Writes are atomic: :func:`save` and :class:`AudioWriter` write a temporary file in the destination
folder and rename it over the destination, so a reader (or a resumed job after
``kill -9``) only ever sees no file or a complete file. Samples reach the encoder in blocks of
:data:`WRITE_BLOCK_FRAMES` frames (libvorbis overflows its stack when handed millions of samples at once).

Example:
    >>> import torch
    >>> from audionoise import io
    >>> io.save("/tmp/tone.wav", torch.zeros(1, 160), 16000)
    >>> x, sr = io.load("/tmp/tone.wav")
    >>> x.shape, sr
    (torch.Size([1, 160]), 16000)
"""


from __future__ import annotations

from audionoise.io import _ffmpeg, _wav  # noqa: F401
from audionoise.io.codec import CODECS, codec_rate, codec_round_trip
from audionoise.io.files import temp_target
from audionoise.io.formats import (AUDIO_EXTENSIONS, FFMPEG_EXTENSIONS, READABLE_EXTENSIONS,
                                   WRITE_BLOCK_FRAMES, AudioFileError, AudioInfo, AudioWriteError, _suffix,
                                   default_subtype, format_for_path, subtype_allowed)
from audionoise.io.ogg import _ogg_crc, _set_ogg_serial  # noqa: F401
from audionoise.io.read import check_header, info, load, load_array, load_with_info, read_blocks
from audionoise.io.write import SAVE_IN_MEMORY_BYTES, AudioWriter, save


__all__ = [
    "AUDIO_EXTENSIONS",
    "FFMPEG_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "WRITE_BLOCK_FRAMES",
    "CODECS",
    "codec_rate",
    "codec_round_trip",
    "AudioFileError",
    "AudioWriteError",
    "AudioWriter",
    "AudioInfo",
    "check_header",
    "info",
    "load",
    "load_with_info",
    "read_blocks",
    "save",
    "format_for_path",
    "subtype_allowed",
    "default_subtype",
    "temp_target",
]

__all__ += ["load_array", "SAVE_IN_MEMORY_BYTES"]
