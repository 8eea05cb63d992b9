"""Minimal ctypes binding to the espeak-ng speech synthesiser shipped in ``espeakng-loader``.

No system binary and no subprocess: the shared library and its voice data come from the
``espeakng-loader`` wheel. espeak-ng runs in synchronous mode and hands 16-bit samples at
22050 Hz to a Python callback.

espeak-ng keeps hidden global state between utterances (e.g. the phase of its pitch "flutter",
a function-level static in the wave generator), so the same call does not give the same samples
twice in one loaded library. Each :class:`Espeak` session therefore loads a private copy of the
library and unloads it on exit: a session's output depends only on the calls made inside it.
Sessions are serialised by a process-wide lock.

Example:
    >>> with Espeak() as tts:  # doctest: +SKIP
    ...     x = tts.say("yes", "en-us+m3")
    >>> x.dtype, x.ndim  # doctest: +SKIP
    (torch.float32, 1)
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["Espeak", "ESPEAK_RATE"]

#: espeak-ng's fixed output rate in Hz.
ESPEAK_RATE = 22050

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_SESSION_LOCK = threading.Lock()


def _loader():
    from audionoise.runtime.extras import require

    return require("espeakng_loader", extra="kws", purpose="speech synthesis (audionoise make-data)",
                   package="espeakng-loader")


@lru_cache(maxsize=1)
def _private_library() -> str:
    """Copy the espeak-ng library to a private temporary file (once per process).

    Nobody else opens the copy, so closing our handle really unloads it and the next session
    starts from freshly initialised globals.
    """
    source = Path(_loader().get_library_path())
    folder = Path(tempfile.mkdtemp(prefix="audionoise-espeak-"))
    atexit.register(shutil.rmtree, folder, True)
    target = folder / source.name
    shutil.copy2(source, target)
    return str(target)


def _unload(handle: int) -> None:
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(handle)


class Espeak:
    """One espeak-ng session (a context manager) in synchronous mode.

    Use ``with Espeak() as tts: tts.say(...)``. Entering loads a fresh copy of the library and
    initialises it; leaving terminates and unloads it. Output is mono float32 at
    :data:`ESPEAK_RATE` Hz, ``int16 / 32768``.

    Raises:
        RuntimeError: the library cannot be loaded or initialised.
    """

    def __init__(self) -> None:
        self._lib = None
        self._chunks: list[bytes] = []

    def __enter__(self) -> Espeak:
        _SESSION_LOCK.acquire()
        try:
            self._open()
        except BaseException:
            _SESSION_LOCK.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._lib.espeak_Terminate()
            _unload(self._lib._handle)
        finally:
            self._lib = None
            _SESSION_LOCK.release()

    def _open(self) -> None:
        lib = ctypes.CDLL(_private_library())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, _loader().get_data_path().encode(), 0)
        if rate != ESPEAK_RATE:
            _unload(lib._handle)
            raise RuntimeError(
                f"espeak-ng initialisation failed (returned {rate}, expected {ESPEAK_RATE} Hz); "
                "reinstall espeakng-loader"
            )

        def collect(wav, num_samples, events):
            if num_samples > 0 and wav:
                self._chunks.append(ctypes.string_at(wav, 2 * num_samples))
            return 0

        self._callback = _SYNTH_CALLBACK(collect)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib

    def say(
        self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50,
        volume: int = 60, seed: int = 0,
    ) -> Tensor:
        """Speak ``text`` and return the waveform ``(time,)`` at 22050 Hz.

        Args:
            text: UTF-8 text; punctuation changes the intonation (``?`` rises).
            voice: ``"<language>+<variant>"``, e.g. ``"en-gb-scotland+f3"``.
            rate: Words per minute (80..450).
            pitch: Base pitch, 0..100 (relative to the variant's own pitch).
            pitch_range: Intonation range, 0 (monotone) .. 100.
            volume: Amplitude, 0..200; 60 keeps every variant clear of int16 clipping.
            seed: Seed of espeak-ng's own random numbers (breathy variants use them).

        Raises:
            RuntimeError: called outside a ``with`` block.
            ValueError: unknown voice or a failed synthesis.
        """
        if self._lib is None:
            raise RuntimeError("Espeak.say must be called inside `with Espeak() as tts:`")
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(
                f"voice {voice!r} is not available in espeak-ng-data; use '<language>+<variant>' "
                "with a language like 'en-us' and a variant like 'm3'"
            )
        for param, value in (
            (_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
            (_PARAM_VOLUME, volume),
        ):
            lib.espeak_SetParameter(param, int(value), 0)
        lib.espeak_ng_SetRandSeed(int(seed))
        data = text.encode("utf-8")
        self._chunks.clear()
        err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        raw = b"".join(self._chunks)
        self._chunks.clear()
        if err != 0:
            raise ValueError(f"espeak-ng failed (error {err}) on text {text!r} with voice {voice!r}")
        if not raw:
            return torch.zeros(0)
        return torch.frombuffer(bytearray(raw), dtype=torch.int16).float() / 32768.0
