"""Procedural noise *families* of the default training-noise bank (:mod:`audionoise.synth.noise_bank`).

Every family is a pure function ``(num_samples, sample_rate, generator) -> (num_samples,)`` float32 with unit
RMS that first draws one of several sub-kinds, then that kind's parameters, all from the ``torch.Generator``
it is given: a seed gives the same recording. :func:`vary` then colours any recording (spectral tilt, peaking
EQ bands, level dynamics, a room), so two clips of one family differ in more than their random phase.

========== =========================================================================================
stationary coloured noise of any slope between blue and brown, band-limited (hiss, air handling)
tonal      mains hum, electrical whine, beeping alarms, buzzing (tonal, stationary or on/off)
appliance  fan, vacuum cleaner, hair dryer, fridge, washing machine, blender (motor + broadband)
music      polyphonic synthesised music: sustained pads, FM leads with vibrato, arpeggios, drum kit
animal     birdsong (harmonic chirps with vibrato, trills), crickets and cicadas, dog barks, frogs
impact     dishes clattering, footsteps, knocking, hammering, doors (modal synthesis)
traffic    road rumble, cars passing by, wet-road hiss, horns
water      running tap, stream, shower (band noise with bubbles)
========== =========================================================================================

Speech babble, the ninth family, needs the espeak-ng voices and is built in :mod:`~audionoise.synth.noise_bank`.
None of these calls the generators of the *evaluation* noises (``rain``, ``engine``, ``music``, ``cafe``,
``keyboard``, ``wind`` in :mod:`audionoise.synth.noises`); ``docs/kws.md`` says how the two sets differ.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> x = animal(16000, 16000, g)
    >>> round(float(x.pow(2).mean().sqrt()), 4)
    1.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audionoise.functional import colored_noise, fft_convolve, room_impulse
from audionoise.functional.rir import fast_fft_size
from audionoise.synth.noises import fan, mains_hum, pink, smooth_random, unit_rms
from audionoise.synth.voices import _u

__all__ = ["FAMILIES", "animal", "appliance", "impact", "music", "stationary", "tonal", "traffic", "vary", "water"]


def _log_u(g: torch.Generator, low: float, high: float) -> float:
    return low * (high / low) ** float(torch.rand((), generator=g))


def _pick(g: torch.Generator, n: int) -> int:
    return int(torch.randint(0, n, (), generator=g))


def _chance(g: torch.Generator, p: float) -> bool:
    return float(torch.rand((), generator=g)) < p


def _poisson_times(g: torch.Generator, rate_hz: float, seconds: float) -> Tensor:
    """Event times (s) of a Poisson process of ``rate_hz`` over ``seconds`` (sorted)."""
    count = int(torch.poisson(torch.tensor(rate_hz * seconds), generator=g))
    return torch.sort(torch.rand(count, generator=g) * seconds).values


def _add(out: Tensor, event: Tensor, start: int) -> None:
    """Add ``event`` into ``out`` from sample ``start`` on, cut at the end of ``out``."""
    if start >= out.numel() or start + event.numel() <= 0:
        return
    lo = max(0, start)
    out[lo : start + event.numel()] += event[lo - start : out.numel() - start]


def _harmonics(f0: Tensor, sample_rate: int, amps: list[float], phase0: float = 0.0) -> Tensor:
    """``sum_k amps[k-1] * sin(k * phi(t))``, ``phi`` the running phase of the frequency track ``f0`` (Hz);
    harmonics above 0.45 * sample_rate are left out."""
    phase = 2 * math.pi * torch.cumsum(f0.double(), 0) / sample_rate + phase0
    top = float(f0.max())
    out = torch.zeros(f0.numel(), dtype=torch.float64)
    for k, a in enumerate(amps, start=1):
        if k * top < 0.45 * sample_rate and a:
            out += a * torch.sin(k * phase)
    return out.float()


def _response(x: Tensor, sample_rate: int, gain) -> Tensor:
    """Zero-phase filtering in one FFT: the spectrum of ``x`` times ``gain(f)`` (``f`` in Hz, >= 1)."""
    n = x.numel()
    f = torch.fft.rfftfreq(n, 1.0 / sample_rate, dtype=torch.float64).clamp_min(1.0)
    return torch.fft.irfft(torch.fft.rfft(x.double()) * gain(f), n=n).float()


def _band(x: Tensor, sample_rate: int, low: float | None, high: float | None) -> Tensor:
    """Second-order Butterworth-like magnitudes: high-pass at ``low``, low-pass at ``high`` (Hz; None: none)."""
    def gain(f):
        out = torch.ones_like(f)
        if low is not None:
            out = out * (f / low) ** 2 / torch.sqrt(1 + (f / low) ** 4)
        if high is not None:
            out = out / torch.sqrt(1 + (f / high) ** 4)
        return out

    return _response(x, sample_rate, gain)


def _bandpass(x: Tensor, sample_rate: int, centre: float, q: float) -> Tensor:
    """Resonator magnitude ``1 / sqrt(1 + q^2 (f/fc - fc/f)^2)``."""
    return _response(x, sample_rate, lambda f: 1 / torch.sqrt(1 + q * q * (f / centre - centre / f) ** 2))


def _peak(x: Tensor, sample_rate: int, centre: float, gain_db: float, q: float) -> Tensor:
    """A peaking band of ``gain_db`` at ``centre`` whose width on a log-frequency axis falls with ``q``."""
    return _response(x, sample_rate, lambda f: 10 ** (gain_db / 20 * torch.exp(-(q * torch.log2(f / centre)) ** 2)))


def _envelope(length: int, sample_rate: int, attack_s: float, decay_s: float) -> Tensor:
    t = torch.arange(length, dtype=torch.float32) / sample_rate
    return (1 - torch.exp(-t / max(attack_s, 1e-4))) * torch.exp(-t / decay_s)


def _modal(sample_rate: int, freqs: list[float], decays: list[float], amps: list[float], g: torch.Generator,
           click: float = 0.3) -> Tensor:
    """One struck object: damped sinusoids (modes) plus a short noise transient."""
    length = int(min(1.5, 5 * max(decays)) * sample_rate)
    t = torch.arange(length, dtype=torch.float32) / sample_rate
    out = torch.zeros(length)
    for f, d, a in zip(freqs, decays, amps):
        if f < 0.45 * sample_rate:
            out += a * torch.sin(2 * math.pi * f * t + _u(g, 0, 2 * math.pi)) * torch.exp(-t / d)
    n = min(length, int(0.004 * sample_rate))
    out[:n] += click * torch.randn(n, generator=g) * torch.linspace(1, 0, n)
    return out


# ------------------------------------------------------------------------------------------------------------
# families
# ------------------------------------------------------------------------------------------------------------
def stationary(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Coloured noise, PSD ``~ 1/f**e`` with ``e ~ U(-1, 2.5)``, band-limited at random (hiss, ventilation, room)."""
    g = generator
    x = colored_noise((num_samples,), _u(g, -1.0, 2.5), g)
    low = _log_u(g, 20.0, 400.0) if _chance(g, 0.6) else None
    high = _log_u(g, 1500.0, 7800.0) if _chance(g, 0.5) else None
    return unit_rms(_band(x, sample_rate, low, high))


def tonal(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Tonal noise: mains hum, electrical whine, beeping alarm or buzz, over a faint floor."""
    g, n, sr = generator, num_samples, sample_rate
    kind = _pick(g, 4)
    if kind == 0:
        x = mains_hum(n, sr, g, 50.0 if _chance(g, 0.5) else 60.0)
    elif kind == 1:  # coil / transformer / monitor whine
        f = _log_u(g, 700.0, 7000.0) * (1 + 0.002 * smooth_random(n, sr, 0.5, g))
        x = _harmonics(f, sr, [1.0, _u(g, 0, 0.5), _u(g, 0, 0.3)])
    elif kind == 2:  # alarm / appliance beeps, one or two alternating pitches
        f1, f2 = _log_u(g, 400.0, 3500.0), _log_u(g, 400.0, 3500.0)
        period, duty = _u(g, 0.15, 1.5), _u(g, 0.2, 0.7)
        t = torch.arange(n, dtype=torch.float32) / sr
        which = torch.floor(t / period).remainder(2)
        f = torch.where((which == 1) & torch.tensor(_chance(g, 0.5)), torch.tensor(f2), torch.tensor(f1))
        gate = ((t / period).remainder(1.0) < duty).float()
        gate = _band(gate, sr, None, 200.0)
        x = _harmonics(f, sr, [1.0, _u(g, 0, 0.4), _u(g, 0, 0.2)]) * gate
    else:  # buzz: a bright harmonic series (fluorescent light, loudspeaker buzz)
        f = _u(g, 90.0, 300.0) * torch.ones(n)
        bright = _u(g, 0.5, 1.5)
        x = _harmonics(f, sr, [k**-bright for k in range(1, 40)])
    floor = pink(n, sr, g) * unit_rms(x).abs().mean() * 10 ** (_u(g, -40, -15) / 20)
    return unit_rms(unit_rms(x) + floor)


def appliance(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Household machines: fan, vacuum cleaner, hair dryer, fridge, washing machine, blender."""
    g, n, sr = generator, num_samples, sample_rate
    kind = _pick(g, 6)
    if kind == 0:
        return fan(n, sr, g)
    if kind == 1:  # vacuum: high motor whine over loud band noise
        f = _u(g, 180.0, 450.0) * (1 + 0.004 * smooth_random(n, sr, 0.4, g))
        whine = _harmonics(f, sr, [k**-0.8 for k in range(1, 25)])
        air = _band(colored_noise((n,), _u(g, 0.0, 1.0), g), sr, _u(g, 200, 600), _u(g, 3000, 7000))
        return unit_rms(unit_rms(air) + _u(g, 0.2, 0.6) * unit_rms(whine))
    if kind == 2:  # hair dryer: bright rushing air + weak motor
        air = _band(colored_noise((n,), _u(g, -0.3, 0.6), g), sr, 150.0, _u(g, 4000, 7800))
        motor = _harmonics(_u(g, 250.0, 600.0) * torch.ones(n), sr, [1.0, 0.5, 0.3])
        return unit_rms(unit_rms(air) + _u(g, 0.05, 0.25) * unit_rms(motor))
    if kind == 3:  # fridge / compressor: low hum, rumble, occasional relay clicks
        f = _u(g, 45.0, 120.0) * torch.ones(n)
        hum = _harmonics(f, sr, [1.0, 0.6, 0.4, 0.25, 0.15])
        rumble = _band(colored_noise((n,), 2.0, g), sr, 30.0, 400.0)
        x = unit_rms(hum) + 0.5 * unit_rms(rumble)
        for t0 in _poisson_times(g, 0.3, n / sr):
            _add(x, _modal(sr, [_u(g, 800, 3000)], [0.01], [3.0], g), int(t0 * sr))
        return unit_rms(x)
    if kind == 4:  # washing machine: swishing water modulated by the drum, periodic thumps
        rot = _u(g, 0.4, 1.5)
        t = torch.arange(n, dtype=torch.float32) / sr
        swish = _band(pink(n, sr, g), sr, 200.0, 2500.0) * (1 + 0.8 * torch.sin(2 * math.pi * rot * t)).clamp_min(0)
        x = unit_rms(swish) + 0.3 * unit_rms(_band(colored_noise((n,), 2.0, g), sr, 30.0, 200.0))
        for k in range(int(n / sr * rot)):
            _add(x, _modal(sr, [_u(g, 60, 150), _u(g, 200, 400)], [0.05, 0.03], [2.0, 1.0], g), int(k / rot * sr))
        return unit_rms(x)
    # blender / food processor: loud harmonic motor whose speed changes with the load, plus chopping noise
    f = _u(g, 150.0, 450.0) * (1 + 0.08 * smooth_random(n, sr, 2.0, g).clamp(-2, 2))
    motor = _harmonics(f, sr, [k**-0.6 for k in range(1, 30)])
    chop = _band(torch.randn(n, generator=g), sr, 500.0, 6000.0) * (1 + smooth_random(n, sr, 8.0, g)).clamp_min(0)
    return unit_rms(unit_rms(motor) + _u(g, 0.3, 0.8) * unit_rms(chop))


_SCALES = ((0, 2, 3, 5, 7, 8, 10), (0, 2, 3, 5, 7, 9, 10), (0, 2, 4, 7, 9), (0, 3, 5, 7, 10), (0, 2, 3, 5, 7, 8, 11),
           (0, 3, 5, 6, 7, 10))  # minor, dorian, major pentatonic, minor pentatonic, harmonic minor, blues


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _pad_note(freq: float, length: int, sr: int, g: torch.Generator) -> Tensor:
    """A sustained, slowly swelling note: two detuned additive voices with vibrato."""
    t = torch.arange(length, dtype=torch.float32) / sr
    vib = 1 + 0.004 * torch.sin(2 * math.pi * _u(g, 4.0, 6.5) * t)
    bright = _u(g, 1.0, 2.0)
    amps = [k**-bright for k in range(1, 10)]
    x = _harmonics(freq * vib, sr, amps) + _harmonics(freq * 1.003 * vib, sr, amps, _u(g, 0, 6.28))
    attack, release = _u(g, 0.05, 0.5), 0.15
    env = torch.clamp(t / attack, max=1.0) * torch.clamp((t[-1] - t) / release, min=0.0, max=1.0)
    return x * env


def _fm_note(freq: float, length: int, sr: int, g: torch.Generator, ratio: float, index: float) -> Tensor:
    """An FM tone (bell, electric piano, brass-like): carrier ``freq``, modulator ``ratio * freq``, decaying index."""
    t = torch.arange(length, dtype=torch.float32) / sr
    vib = 0.006 * torch.sin(2 * math.pi * _u(g, 4.5, 6.5) * t) * torch.clamp(t / 0.3, max=1.0)
    decay = _u(g, 0.2, 1.5)
    mod = index * torch.exp(-t / decay) * torch.sin(2 * math.pi * ratio * freq * t)
    x = torch.sin(2 * math.pi * freq * t * (1 + vib) + mod)
    return x * _envelope(length, sr, 0.005, _u(g, 0.3, 2.0))


def _drum(kind: int, sr: int, g: torch.Generator) -> Tensor:
    if kind == 0:  # kick: falling sine
        length = int(0.3 * sr)
        t = torch.arange(length, dtype=torch.float32) / sr
        f = 45 + 100 * torch.exp(-t / 0.03)
        return torch.sin(2 * math.pi * torch.cumsum(f, 0) / sr) * torch.exp(-t / 0.12)
    if kind == 1:  # snare: noise + tone
        length = int(0.25 * sr)
        t = torch.arange(length, dtype=torch.float32) / sr
        noise = _band(torch.randn(length, generator=g), sr, 1000.0, None)
        return (0.8 * noise + 0.5 * torch.sin(2 * math.pi * 190 * t)) * torch.exp(-t / 0.06)
    length = int(0.08 * sr)  # hi-hat
    t = torch.arange(length, dtype=torch.float32) / sr
    return 0.4 * _band(torch.randn(length, generator=g), sr, 6000.0, None) * torch.exp(-t / 0.02)


def music(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Polyphonic synthesised music: two to four layers out of sustained pad chords, an FM lead with vibrato, a
    fast arpeggio and a drum kit, in a random scale (minor, dorian, pentatonic, harmonic minor, blues), key and
    tempo. Onsets (drums, arpeggio, lead) and sustained notes (pads) both occur."""
    g, n, sr = generator, num_samples, sample_rate
    scale, key = _SCALES[_pick(g, len(_SCALES))], 45 + _pick(g, 15)
    beat = int(60.0 / _u(g, 65.0, 170.0) * sr)
    layers = [k for k in range(4) if _chance(g, 0.6)] or [0, 1]
    if len(layers) == 1:
        layers.append((layers[0] + 1 + _pick(g, 3)) % 4)
    out = torch.zeros(n + 16 * beat)

    def note(step: int, octave: int) -> float:
        return _hz(key + 12 * (octave + step // len(scale)) + scale[step % len(scale)])

    bars = n // (4 * beat) + 1
    if 0 in layers:  # pad chords, one or two bars each
        bar = 0
        while bar < bars:
            span = 1 + _pick(g, 2)
            root = _pick(g, len(scale))
            for j in range(3 + _pick(g, 2)):
                _add(out, 0.25 * _pad_note(note(root + 2 * j, 0), span * 4 * beat, sr, g), bar * 4 * beat)
            bar += span
    if 1 in layers:  # lead melody, legato-ish, quarter and eighth notes
        ratio, index = (1.0, 2.0, 3.5, 1.5)[_pick(g, 4)], _u(g, 0.5, 4.0)
        pos, step = 0, _pick(g, len(scale))
        while pos < n:
            dur = beat // (1 + _pick(g, 2)) * (1 + _pick(g, 2))
            step = max(0, min(2 * len(scale), step + _pick(g, 5) - 2))
            if _chance(g, 0.85):
                _add(out, 0.35 * _fm_note(note(step, 1), int(dur * 1.1), sr, g, ratio, index), pos)
            pos += dur
    if 2 in layers:  # arpeggio on sixteenth notes, plucky odd-harmonic tone
        pos, root = 0, _pick(g, len(scale))
        while pos < n:
            for j in range(16):
                f = note(root + 2 * (j % 4), 1 + (j // 8) % 2)
                length = int(0.25 * sr)
                tone = _harmonics(torch.full((length,), f), sr, [1.0, 0, 1 / 9, 0, 1 / 25])
                _add(out, 0.2 * tone * _envelope(length, sr, 0.002, 0.08), pos + j * beat // 4)
            pos += 4 * beat
            root = _pick(g, len(scale))
    if 3 in layers:  # drums: kick / snare / hat pattern with random variations
        kit = [_drum(k, sr, g) for k in range(3)]
        kick = [1 if _chance(g, 0.3) or i in (0, 4) else 0 for i in range(8)]
        for e in range(int(n / (beat / 2)) + 1):
            at = e * beat // 2
            if kick[e % 8]:
                _add(out, kit[0], at)
            if e % 4 == 2:
                _add(out, kit[1], at)
            if _chance(g, 0.8):
                _add(out, kit[2] * _u(g, 0.4, 1.0), at)
    return unit_rms(out[:n])


def _chirp(sr: int, g: torch.Generator, f_lo: float, f_hi: float) -> Tensor:
    """A bird syllable: a frequency sweep with vibrato and a few harmonics under a smooth envelope."""
    length = int(_u(g, 0.02, 0.15) * sr)
    t = torch.linspace(0, 1, length)
    f_a, f_b = _log_u(g, f_lo, f_hi), _log_u(g, f_lo, f_hi)
    shape = t if _chance(g, 0.5) else t.pow(_u(g, 0.3, 3.0))
    f = f_a + (f_b - f_a) * shape
    f = f * (1 + _u(g, 0.0, 0.08) * torch.sin(2 * math.pi * _u(g, 15.0, 90.0) * t * length / sr))
    x = _harmonics(f, sr, [1.0, _u(g, 0, 0.4), _u(g, 0, 0.15)])
    return x * torch.sin(math.pi * t).pow(2)


def animal(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Animal sounds: birdsong (chirps with vibrato, trills), crickets or cicadas, dog barks, frogs."""
    g, n, sr = generator, num_samples, sample_rate
    seconds = n / sr
    kind = _pick(g, 4)
    out = torch.zeros(n)
    if kind == 0:  # birds: 1-4 birds, phrases of syllables and trills
        for _ in range(1 + _pick(g, 4)):
            lo = _u(g, 1500.0, 4000.0)
            level = _log_u(g, 0.2, 1.0)
            for start in _poisson_times(g, _u(g, 0.2, 0.8), seconds):
                pos = int(start * sr)
                for _ in range(2 + _pick(g, 6)):
                    syl = _chirp(sr, g, lo, min(lo * 2.5, 7500.0))
                    for _ in range(1 if _chance(g, 0.6) else 3 + _pick(g, 6)):  # a trill repeats the syllable
                        _add(out, level * syl, pos)
                        pos += syl.numel() + int(_u(g, 0.01, 0.05) * sr)
                    pos += int(_u(g, 0.03, 0.2) * sr)
    elif kind == 1:  # insects
        t = torch.arange(n, dtype=torch.float32) / sr
        carrier = torch.sin(2 * math.pi * _u(g, 3500.0, 6500.0) * t)
        if _chance(g, 0.5):  # cricket: chirps of 3-5 pulses
            pulse, chirp_rate = _u(g, 0.012, 0.03), _u(g, 1.0, 3.0)
            within = (t * chirp_rate).remainder(1.0) / chirp_rate
            gate = (within < pulse * 2 * (3 + _pick(g, 3))) & ((within / pulse).floor().remainder(2) == 0)
            out = carrier * _band(gate.float(), sr, None, 400.0)
        else:  # cicada: band noise amplitude-modulated at 100-300 Hz, long buzzes
            band = _bandpass(torch.randn(n, generator=g), sr, _u(g, 4000.0, 7000.0), 4.0)
            am = 0.5 + 0.5 * torch.sin(2 * math.pi * _u(g, 100.0, 300.0) * t)
            swell = torch.sigmoid(3 * smooth_random(n, sr, 0.3, g))
            out = band * am * swell
    elif kind == 2:  # dog barks: harmonic bursts with a falling pitch and a formant
        formant = _u(g, 600.0, 1500.0)
        for start in _poisson_times(g, _u(g, 0.3, 1.0), seconds):
            pos = int(start * sr)
            for _ in range(1 + _pick(g, 4)):
                length = int(_u(g, 0.1, 0.25) * sr)
                t = torch.linspace(0, 1, length)
                f = _u(g, 300.0, 800.0) * (1.2 - 0.4 * t)
                bark = _harmonics(f, sr, [1.0 / k for k in range(1, 12)])
                bark = _peak(bark, sr, formant, 12.0, 1.5)
                bark = bark + 0.3 * torch.randn(length, generator=g)
                _add(out, bark * torch.sin(math.pi * t).clamp_min(0).sqrt() * torch.exp(-2 * t), pos)
                pos += length + int(_u(g, 0.1, 0.3) * sr)
    else:  # frogs: pulsed low croaks
        for start in _poisson_times(g, _u(g, 0.5, 2.0), seconds):
            length = int(_u(g, 0.15, 0.5) * sr)
            t = torch.arange(length, dtype=torch.float32) / sr
            f = torch.full((length,), _u(g, 100.0, 450.0))
            croak = _harmonics(f, sr, [1.0, 0.7, 0.5, 0.3, 0.2])
            croak = croak * (0.5 + 0.5 * torch.sin(2 * math.pi * _u(g, 15.0, 60.0) * t)).pow(2)
            _add(out, croak * torch.sin(math.pi * t / t[-1]), int(start * sr))
    ambience = _band(pink(n, sr, g), sr, 300.0, None)
    return unit_rms(unit_rms(out) + 10 ** (_u(g, -35, -15) / 20) * unit_rms(ambience))


def impact(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Impacts and clatter (modal synthesis): dishes, footsteps, knocking, hammering, doors."""
    g, n, sr = generator, num_samples, sample_rate
    seconds = n / sr
    kind = _pick(g, 5)
    out = torch.zeros(n)
    if kind == 0:  # dishes and cutlery: bright inharmonic modes, clustered events
        for start in _poisson_times(g, _u(g, 0.5, 3.0), seconds):
            pos = int(start * sr)
            for _ in range(1 + _pick(g, 4)):
                m = 2 + _pick(g, 5)
                freqs = [_log_u(g, 1000.0, 7500.0) for _ in range(m)]
                ev = _modal(sr, freqs, [_u(g, 0.03, 0.4) for _ in range(m)], [_u(g, 0.2, 1.0) for _ in range(m)], g)
                _add(out, _log_u(g, 0.2, 1.0) * ev, pos)
                pos += int(_u(g, 0.02, 0.2) * sr)
    elif kind == 1:  # footsteps: regular low thumps with scuffs
        period, pos = _u(g, 0.4, 0.75), int(_u(g, 0, 0.5) * sr)
        while pos < n:
            ev = _modal(sr, [_u(g, 60, 200), _u(g, 200, 600)], [_u(g, 0.02, 0.06), 0.02], [1.0, 0.5], g, click=0.8)
            _add(out, _u(g, 0.6, 1.0) * ev, pos)
            pos += int(period * _u(g, 0.9, 1.1) * sr)
    elif kind == 2:  # knocking on a door or table, in groups
        for start in _poisson_times(g, _u(g, 0.2, 0.7), seconds):
            pos = int(start * sr)
            freqs = [_u(g, 120, 400), _u(g, 400, 1500)]
            for _ in range(2 + _pick(g, 4)):
                _add(out, _modal(sr, freqs, [0.04, 0.02], [1.0, 0.6], g, click=0.5), pos)
                pos += int(_u(g, 0.12, 0.25) * sr)
    elif kind == 3:  # hammering metal or wood: periodic strikes with a ringing tail
        period, pos = _u(g, 0.3, 1.0), 0
        m = 3 + _pick(g, 3)
        freqs = [_log_u(g, 300.0, 5000.0) for _ in range(m)]
        decays = [_u(g, 0.05, 0.5) for _ in range(m)]
        while pos < n:
            _add(out, _modal(sr, freqs, decays, [_u(g, 0.3, 1.0) for _ in range(m)], g, click=1.0), pos)
            pos += int(period * _u(g, 0.85, 1.15) * sr)
    else:  # doors: heavy slams with rattles, sparse
        for start in _poisson_times(g, _u(g, 0.15, 0.5), seconds):
            ev = _modal(sr, [_u(g, 50, 120), _u(g, 150, 400), _u(g, 800, 2500)], [0.15, 0.08, 0.05], [1, 0.6, 0.3], g,
                        click=1.5)
            _add(out, ev, int(start * sr))
    room = _band(colored_noise((n,), 1.5, g), sr, 40.0, None)
    return unit_rms(unit_rms(out) + 10 ** (_u(g, -40, -20) / 20) * unit_rms(room))


def traffic(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Street traffic: a low road rumble, cars passing by (tyre noise swelling and fading), a wet-road hiss
    sometimes, a horn now and then."""
    g, n, sr = generator, num_samples, sample_rate
    seconds = n / sr
    t = torch.arange(n, dtype=torch.float32) / sr
    rumble = _band(colored_noise((n,), _u(g, 1.5, 2.5), g), sr, 25.0, _u(g, 300.0, 900.0))
    out = unit_rms(rumble) * (1 + 0.3 * smooth_random(n, sr, 0.2, g).clamp(-2, 2)).clamp_min(0.2)
    tyres = _band(colored_noise((n,), _u(g, 0.5, 1.5), g), sr, 200.0, _u(g, 2000.0, 6000.0))
    swell = torch.zeros(n)
    for start in _poisson_times(g, _u(g, 0.2, 1.2), seconds + 4.0):
        tau = _u(g, 0.4, 2.0)
        swell += _log_u(g, 0.5, 4.0) / (1 + ((t - (start - 2.0)) / tau) ** 2)
    out = out + unit_rms(tyres) * swell
    if _chance(g, 0.3):  # wet road
        out = out + unit_rms(_band(torch.randn(n, generator=g), sr, 2500.0, None)) * swell * _u(g, 0.3, 1.0)
    if _chance(g, 0.4):
        for start in _poisson_times(g, 0.2, seconds):
            length = int(_u(g, 0.2, 0.9) * sr)
            f = _u(g, 300.0, 500.0)
            horn = _harmonics(torch.full((length,), f), sr, [1.0, 0.6, 0.4, 0.3, 0.2, 0.1])
            horn = horn + _harmonics(torch.full((length,), f * 1.26), sr, [1.0, 0.6, 0.4, 0.3])
            _add(out, _u(g, 0.5, 3.0) * horn * _envelope(length, sr, 0.01, 10.0), int(start * sr))
    return unit_rms(out)


def water(num_samples: int, sample_rate: int, generator: torch.Generator) -> Tensor:
    """Running water: a tap, a stream or a shower: shaped band noise with bubbles (short rising tones)."""
    g, n, sr = generator, num_samples, sample_rate
    seconds = n / sr
    centre = _log_u(g, 400.0, 3000.0)
    bed = _bandpass(colored_noise((n,), _u(g, 0.0, 1.2), g), sr, centre, _u(g, 0.3, 1.2))
    bed = bed * (1 + 0.25 * smooth_random(n, sr, _u(g, 1.0, 6.0), g)).clamp_min(0.1)
    bubbles = torch.zeros(n)
    for start in _poisson_times(g, _log_u(g, 10.0, 150.0), seconds):
        length = int(_u(g, 0.004, 0.03) * sr)
        tt = torch.linspace(0, 1, length)
        f = _log_u(g, 300.0, 3000.0) * (1 + _u(g, 0.1, 0.8) * tt)
        _add(bubbles, _log_u(g, 0.1, 1.0) * _harmonics(f, sr, [1.0]) * torch.exp(-4 * tt), int(start * sr))
    return unit_rms(unit_rms(bed) + _u(g, 0.2, 1.0) * unit_rms(bubbles))


#: the procedural families, by name (babble is added by :mod:`audionoise.synth.noise_bank`)
FAMILIES = {"stationary": stationary, "tonal": tonal, "appliance": appliance, "music": music, "animal": animal,
            "impact": impact, "traffic": traffic, "water": water}


def vary(x: Tensor, sample_rate: int, generator: torch.Generator, reverb_p: float = 0.35) -> Tensor:
    """Per-clip variety for any recording ``x`` (1-D): a spectral tilt of ``U(-1, 1)`` times 3 dB per octave, zero
    to two peaking-EQ bands of +-10 dB, level dynamics (a slow random envelope, sometimes on/off gating down to
    20-35 dB below) on half the clips, and a room (:func:`audionoise.functional.room_impulse`, RT60 0.2-1.2 s) on
    ``reverb_p`` of them. Returns unit RMS.

    Example:
        >>> g = torch.Generator().manual_seed(1)
        >>> y = vary(torch.randn(8000, generator=g), 16000, g)
        >>> y.shape, round(float(y.pow(2).mean()), 4)
        (torch.Size([8000]), 1.0)
    """
    g, n, sr = generator, x.numel(), sample_rate
    spec = torch.fft.rfft(x.double())
    f = torch.fft.rfftfreq(n, 1.0 / sr).clamp_min(50.0)
    spec = spec * (f / 1000.0) ** (_u(g, -1.0, 1.0) / 2)
    y = torch.fft.irfft(spec, n=n).float()
    for _ in range(_pick(g, 3)):
        y = _peak(y, sr, _log_u(g, 100.0, 6000.0), _u(g, -10.0, 10.0), _u(g, 0.5, 3.0))
    if _chance(g, 0.5):
        env = torch.exp(_u(g, 0.2, 1.2) * smooth_random(n, sr, _log_u(g, 0.1, 2.0), g).clamp(-2.5, 2.5))
        if _chance(g, 0.3):  # on/off: the source stops and starts (to 20-35 dB below, never silent)
            gate = _band((smooth_random(n, sr, 0.5, g) > -0.5).float(), sr, None, 20.0).clamp(0, 1)
            floor = 10 ** (_u(g, -35.0, -20.0) / 20)
            env = env * (floor + (1 - floor) * gate)
        y = y * env
    if _chance(g, reverb_p):
        h = room_impulse(sr, _u(g, 0.2, 1.2), _log_u(g, 0.3, 4.0), g)
        y = fft_convolve(y, h, n_fft=fast_fft_size(n + h.numel() - 1))[..., :n]
    return unit_rms(y)
