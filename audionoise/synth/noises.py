"""Procedural noise recordings for the bundled keyword-spotting data.

Every generator is a pure function of ``(num_samples, sample_rate, generator)`` that returns a
1-D float32 waveform with unit RMS (``sqrt(mean(x**2)) == 1``); the caller sets the level. All
randomness comes from the ``torch.Generator`` passed in, so a seed gives the same recording.
White, pink and brown noise and the RMS are the core's (:func:`audionoise.functional.colored_noise`,
:func:`audionoise.functional.rms`); this module only adds the recordings built on them.

Two families are kept apart on purpose:

* training noises (:func:`white`, :func:`pink`, :func:`brown`, :func:`mains_hum`, :func:`fan`,
  and speech babble mixed by :func:`mix_streams`) go into ``_background_noise_/``;
* held-out evaluation noises of *different* kinds (:func:`rain`, :func:`engine`, :func:`music`,
  :func:`keyboard`, :func:`wind`, and cafe babble with :func:`clinks`) go into ``noise_eval/``,
  so a robustness score measures generalisation to unseen noise, not memorisation.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = rain(16000, 16000, g)
    >>> round(float(x.pow(2).mean().sqrt()), 4)
    1.0
"""

from __future__ import annotations

import math

import torch
import torchaudio.functional as AF
from torch import Tensor

from audionoise.functional import colored_noise, rms

__all__ = [
    "white",
    "pink",
    "brown",
    "mains_hum",
    "fan",
    "rain",
    "engine",
    "music",
    "keyboard",
    "wind",
    "clinks",
    "mix_streams",
    "smooth_random",
    "unit_rms",
]


def unit_rms(x: Tensor) -> Tensor:
    """Scale one waveform ``x`` to RMS 1: ``x / rms(x)`` (all-zero input is returned unchanged)."""
    level = rms(x.reshape(-1))
    return x if level == 0 else x / level


def _uniform(generator: torch.Generator, low: float, high: float, size=()) -> Tensor:
    return low + (high - low) * torch.rand(size, generator=generator)


def white(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """White Gaussian noise (flat spectrum), unit RMS."""
    return colored_noise((num_samples,), "white", generator)


def pink(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Pink noise, power ``~ 1/f`` (-3.01 dB per octave), unit RMS."""
    return colored_noise((num_samples,), "pink", generator)


def brown(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Brown (red) noise, power ``~ 1/f**2`` (-6.02 dB per octave), unit RMS."""
    return colored_noise((num_samples,), "brown", generator)


def smooth_random(
    num_samples: int, sample_rate: int, rate_hz: float, generator: torch.Generator
) -> Tensor:
    """A slowly varying Gaussian process: ``rate_hz`` random knots per second, linearly interpolated.

    Used for drifts, gusts and modulations. Values are N(0, 1) at the knots.

    Example:
        >>> smooth_random(16000, 16000, 4.0, torch.Generator().manual_seed(0)).shape
        torch.Size([16000])
    """
    knots = max(2, int(math.ceil(num_samples / sample_rate * rate_hz)) + 2)
    values = torch.randn(1, 1, knots, generator=generator)
    return torch.nn.functional.interpolate(
        values, size=num_samples, mode="linear", align_corners=True
    ).reshape(num_samples)


def _harmonic_phase(f0: Tensor, sample_rate: int) -> Tensor:
    """Instantaneous phase ``2*pi*cumsum(f0)/sr`` of a tone with time-varying frequency ``f0`` (Hz)."""
    return 2 * math.pi * torch.cumsum(f0.double(), dim=0) / sample_rate


def mains_hum(
    num_samples: int, sample_rate: int, generator: torch.Generator, mains_hz: float = 50.0
) -> Tensor:
    """Electrical hum: harmonics of the mains frequency plus a faint pink floor.

    ``x(t) = sum_k a_k sin(k * phi(t) + p_k)`` with ``phi`` the phase of ``mains_hz`` drifting by
    about 0.05 %, odd harmonics stronger than even ones (transformer buzz), ``a_k ~ k**-0.7``.

    Args:
        mains_hz: 50 (Europe, Asia) or 60 (Americas).
    """
    f0 = mains_hz * (1 + 5e-4 * smooth_random(num_samples, sample_rate, 0.5, generator))
    phase = _harmonic_phase(f0, sample_rate)
    x = torch.zeros(num_samples, dtype=torch.float64)
    top = int(min(2000.0, 0.45 * sample_rate) // mains_hz)
    for k in range(1, top + 1):
        amp = k**-0.7 * (1.0 if k % 2 else 0.35) * float(_uniform(generator, 0.3, 1.0))
        x += amp * torch.sin(k * phase + float(_uniform(generator, 0, 2 * math.pi)))
    x = unit_rms(x.float())
    return unit_rms(x + 0.03 * pink(num_samples, sample_rate, generator))


def fan(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Fan or air-conditioner: low-passed pink noise with a blade-pass tone and slow wobble."""
    cutoff = float(_uniform(generator, 600.0, 1800.0))
    air = AF.lowpass_biquad(pink(num_samples, sample_rate, generator), sample_rate, cutoff)
    air = AF.highpass_biquad(air, sample_rate, 40.0)
    blade_hz = float(_uniform(generator, 70.0, 160.0))
    f0 = blade_hz * (1 + 0.003 * smooth_random(num_samples, sample_rate, 0.3, generator))
    phase = _harmonic_phase(f0, sample_rate)
    tone = sum(k**-1.5 * torch.sin(k * phase) for k in range(1, 6)).float()
    wobble = 1 + 0.15 * torch.sin(phase / 7).float()
    return unit_rms(unit_rms(air) * wobble + 0.25 * unit_rms(tone))


def _bursts(
    num_samples: int,
    sample_rate: int,
    times: Tensor,
    amps: Tensor,
    centres_hz: list[float],
    q: float,
    decay_s: float,
    generator: torch.Generator,
) -> Tensor:
    """Short decaying noise bursts at ``times`` (s), each ringing through one of a few resonators.

    Each event is a noise grain ``n(t) * exp(-t / decay_s)`` of amplitude ``amps[i]``; events are
    shared round-robin among band-pass resonators at ``centres_hz`` (biquads of quality ``q``).
    """
    grain_len = max(4, int(5 * decay_s * sample_rate))
    t = torch.arange(grain_len, dtype=torch.float32) / sample_rate
    envelope = torch.exp(-t / decay_s)
    out = torch.zeros(num_samples)
    idx = (times * sample_rate).long().clamp(0, num_samples - 1)
    for r, centre in enumerate(centres_hz):
        train = torch.zeros(num_samples + grain_len)
        for i in range(r, idx.numel(), len(centres_hz)):
            start = int(idx[i])
            grain = torch.randn(grain_len, generator=generator) * envelope * float(amps[i])
            train[start : start + grain_len] += grain
        out += AF.bandpass_biquad(train[:num_samples], sample_rate, centre, q)
    return out


def rain(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Rain on a surface: a Poisson shower of drop clicks over a high-passed hiss bed."""
    seconds = num_samples / sample_rate
    drops = int(float(_uniform(generator, 150.0, 400.0)) * seconds)
    times = torch.rand(drops, generator=generator) * seconds
    amps = torch.exp(_uniform(generator, -3.0, 0.0, (drops,)) * 1.5)
    centres = [float(c) for c in _uniform(generator, 1200.0, 6000.0, (6,))]
    clicks = _bursts(num_samples, sample_rate, times, amps, centres, 2.0, 0.002, generator)
    bed = AF.highpass_biquad(pink(num_samples, sample_rate, generator), sample_rate, 800.0)
    swell = 1 + 0.3 * smooth_random(num_samples, sample_rate, 0.2, generator).clamp(-2, 2)
    return unit_rms(unit_rms(clicks) + 0.6 * unit_rms(bed) * swell)


def engine(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Engine or motor: a harmonic series whose fundamental follows slow RPM changes.

    Firing frequency ``f0(t) = f_base * (1 + 0.12 * s(t))`` with ``s`` a smooth random process;
    harmonics ``k = 1..40`` with ``a_k ~ k**-0.9``, half-order components, amplitude modulation at
    ``f0/2`` and a low-passed brown rumble.
    """
    base = float(_uniform(generator, 25.0, 55.0))
    drift = smooth_random(num_samples, sample_rate, 0.25, generator).clamp(-2.5, 2.5)
    f0 = base * (1 + 0.12 * drift)
    phase = _harmonic_phase(f0, sample_rate)
    x = torch.zeros(num_samples, dtype=torch.float64)
    for k in range(1, 41):
        if k * base * 1.4 > 0.45 * sample_rate:
            break
        amp = k**-0.9 * float(_uniform(generator, 0.4, 1.0))
        x += amp * torch.sin(k * phase + float(_uniform(generator, 0, 2 * math.pi)))
        x += 0.3 * amp * torch.sin((k - 0.5) * phase)
    x = x.float() * (1 + 0.3 * torch.sin(phase / 2).float())
    rumble = AF.lowpass_biquad(brown(num_samples, sample_rate, generator), sample_rate, 300.0)
    return unit_rms(unit_rms(x) + 0.5 * unit_rms(rumble))


def _note(freq: float, length: int, sample_rate: int, decay_s: float, bright: float) -> Tensor:
    """One plucked/struck note: harmonics ``1/k**bright`` under an attack + exponential decay."""
    t = torch.arange(length, dtype=torch.float32) / sample_rate
    tone = torch.zeros(length)
    for k in range(1, 9):
        if k * freq > 0.45 * sample_rate:
            break
        tone += k**-bright * torch.sin(2 * math.pi * k * freq * t)
    envelope = (1 - torch.exp(-t / 0.005)) * torch.exp(-t / decay_s)
    return tone * envelope


def music(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Music-like signal: a chord progression with bass and a melody in a random major key.

    Chords follow a random walk over the degrees I, ii, IV, V, vi of the key; each chord lasts
    one bar; the melody plays scale notes on eighth notes with random rests.
    """
    scale = [0, 2, 4, 5, 7, 9, 11]
    key = 48 + int(torch.randint(0, 12, (), generator=generator))  # MIDI note of the tonic
    bpm = float(_uniform(generator, 80.0, 140.0))
    beat = int(60.0 / bpm * sample_rate)
    out = torch.zeros(num_samples + 8 * beat)

    def midi_hz(m: int) -> float:
        return 440.0 * 2 ** ((m - 69) / 12)

    degrees = [0, 1, 3, 4, 5]
    bar = 0
    while bar * 4 * beat < num_samples:
        degree = degrees[int(torch.randint(0, len(degrees), (), generator=generator))]
        start = bar * 4 * beat
        for j in range(3):  # triad
            step = degree + 2 * j
            m = key + 12 * (step // 7) + scale[step % 7]
            note = _note(midi_hz(m), 4 * beat, sample_rate, 1.2, 1.2)
            out[start : start + note.numel()] += 0.3 * note
        bass = _note(midi_hz(key - 12 + scale[degree]), 4 * beat, sample_rate, 0.8, 1.6)
        out[start : start + bass.numel()] += 0.5 * bass
        for e in range(8):  # melody on eighth notes
            if float(torch.rand((), generator=generator)) < 0.3:
                continue
            step = int(torch.randint(0, 10, (), generator=generator))
            m = key + 12 + 12 * (step // 7) + scale[step % 7]
            note = _note(midi_hz(m), beat, sample_rate, 0.25, 0.9)
            s = start + e * beat // 2
            out[s : s + note.numel()] += 0.35 * note
        bar += 1
    return unit_rms(out[:num_samples])


def keyboard(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Typing on a keyboard: bursts of key clicks (press + release) separated by pauses."""
    seconds = num_samples / sample_rate
    times, t = [], 0.0
    while t < seconds:
        for _ in range(int(torch.randint(3, 25, (), generator=generator))):
            t += float(_uniform(generator, 0.08, 0.25))
            times.append(t)
            times.append(t + float(_uniform(generator, 0.05, 0.11)))  # key release
        t += float(_uniform(generator, 0.4, 2.5))
    times_t = torch.tensor([x for x in times if x < seconds])
    amps = _uniform(generator, 0.3, 1.0, (times_t.numel(),))
    amps[1::2] *= 0.5
    centres = [float(c) for c in _uniform(generator, 1500.0, 5000.0, (5,))]
    clicks = _bursts(num_samples, sample_rate, times_t, amps, centres, 3.0, 0.004, generator)
    thump = _bursts(num_samples, sample_rate, times_t[0::2], amps[0::2], [250.0], 1.5, 0.006, generator)
    room = 0.02 * pink(num_samples, sample_rate, generator)
    return unit_rms(unit_rms(clicks) + 0.4 * unit_rms(thump) + room)


def wind(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Wind: low-passed noise whose level and brightness follow random gusts.

    The gust envelope is ``exp(0.8 * s(t))`` with ``s`` a smooth random process (about 0.4 knots/s);
    a band-passed howl whose level follows the gusts sits on top.
    """
    gust = torch.exp(0.8 * smooth_random(num_samples, sample_rate, 0.4, generator).clamp(-2.5, 2.5))
    body = AF.lowpass_biquad(brown(num_samples, sample_rate, generator), sample_rate, 500.0)
    hiss = AF.lowpass_biquad(pink(num_samples, sample_rate, generator), sample_rate, 2500.0)
    centre = float(_uniform(generator, 300.0, 900.0))
    howl = AF.bandpass_biquad(white(num_samples, sample_rate, generator), sample_rate, centre, 8.0)
    x = unit_rms(body) * gust + 0.3 * unit_rms(hiss) * gust.pow(2) + 0.2 * unit_rms(howl) * gust
    return unit_rms(x)


def clinks(num_samples: int, sample_rate: int, generator: torch.Generator, per_second: float = 0.6) -> Tensor:
    """Cups and cutlery: sparse ringing high-Q resonances (unit RMS)."""
    seconds = num_samples / sample_rate
    n = max(1, int(per_second * seconds))
    times = torch.rand(n, generator=generator) * seconds
    amps = _uniform(generator, 0.2, 1.0, (n,))
    centres = [float(c) for c in _uniform(generator, 2000.0, 6500.0, (4,))]
    return unit_rms(_bursts(num_samples, sample_rate, times, amps, centres, 30.0, 0.003, generator))


def mix_streams(streams: list[Tensor], num_samples: int, generator: torch.Generator) -> Tensor:
    """Sum talker streams into babble: each is cut or looped to ``num_samples``, given a random
    start offset and a gain ``10**(U(-6, 0)/20)`` relative to unit RMS, then the mix is scaled to
    unit RMS.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mix_streams([torch.randn(500, generator=g), torch.randn(800, generator=g)], 1000, g).shape
        torch.Size([1000])
    """
    out = torch.zeros(num_samples)
    for s in streams:
        if s.numel() == 0 or s.pow(2).sum() == 0:
            continue
        reps = -(-num_samples // s.numel()) + 1
        looped = s.repeat(reps)
        offset = int(torch.randint(0, s.numel(), (), generator=generator))
        gain = 10 ** (float(_uniform(generator, -6.0, 0.0)) / 20)
        out += gain * unit_rms(looped[offset : offset + num_samples])
    return unit_rms(out)
