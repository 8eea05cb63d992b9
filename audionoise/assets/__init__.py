"""Audio files shipped inside the package, so examples and defaults work from any folder of any install.

``examples/`` holds one synthetic word per clip (``yes.wav``, ``stop.wav``, 1 s) for ``audionoise demo``;
``noise/`` holds four 4 s training-type noises (pink, 50 Hz hum, fan, babble), the last fallback of the keyword
spotter's default augmentation. All are 16 kHz mono 16-bit PCM, written by ``python data/make_data.py --bundle``
(the repository's ``data/noise`` is a byte-identical copy for the example configs that say ``noise = "data/noise"``).

Example:
    >>> from audionoise import assets
    >>> assets.example_clip("yes").name, sorted(p.name for p in assets.noise_dir().iterdir())[:2]
    ('yes.wav', ['babble.wav', 'fan.wav'])
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

_extracted = contextlib.ExitStack()  # only used when the package is not on a file system (zip import)
atexit.register(_extracted.close)


def _path(name: str) -> Path:
    resource = resources.files(__name__).joinpath(name)
    if isinstance(resource, Path):  # any installed wheel or source checkout: no copy needed
        return resource
    return Path(_extracted.enter_context(resources.as_file(resource)))


def example_clip(word: str = "yes") -> Path:
    """Path of a bundled example clip: ``"yes"`` or ``"stop"``.

    Raises:
        ValueError: no clip of that name ships with the package.
    """
    path = _path(f"examples/{word}.wav")
    if not path.is_file():
        names = sorted(p.stem for p in _path("examples").iterdir() if p.suffix == ".wav")
        raise ValueError(f"no bundled example clip {word!r}; available: {', '.join(names)}")
    return path


def noise_dir() -> Path:
    """Folder of the bundled background-noise clips (a folder :class:`audionoise.BackgroundNoise` accepts)."""
    return _path("noise")
