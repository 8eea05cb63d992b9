"""Synthetic speakers: espeak-ng voice settings, a recording channel per speaker, and rendering words.

Words are spoken by the espeak-ng library of the ``espeakng-loader`` wheel (see
:mod:`audionoise.synth.espeak`; no system binary). A *speaker* is a fixed combination of accent
(``en-us``, ``en-gb-scotland``, ...), voice variant (``m3``, ``f2``, ``klatt``, ...), base pitch,
pitch range, speaking rate, a vocal-tract scaling and a recording channel (high-pass, low-pass, one
peaking EQ band, an optional short room reverb and a noise floor). Every utterance then varies rate,
pitch, intonation (``yes``, ``yes.``, ``yes?``, ``yes!``), onset inside the clip and peak level, so a
model has to learn the words rather than the synthesiser's quirks.

Everything is a deterministic function of the seed: speakers come from a ``torch.Generator`` seeded with
:func:`audionoise.kernels.seeds.derive_seed`, and each call of :func:`render_words` from one fresh espeak-ng session
and the generator it is given, so the samples do not depend on what ran before in the process.

Example:
    >>> s = make_speakers(1)[0]  # doctest: +SKIP
    >>> render_words(s, ["yes"], torch.Generator().manual_seed(0)).shape  # doctest: +SKIP
    torch.Size([1, 16000])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchaudio.functional as AF
from torch import Tensor

from audionoise.kernels.seeds import derive_seed
from audionoise.functional import colored_noise, fft_convolve, room_impulse
from audionoise.functional.rir import fast_fft_size
from audionoise.synth.espeak import ESPEAK_RATE, Espeak

__all__ = [
    "ENGLISH_VOICES",
    "FEMALE_VARIANTS",
    "MALE_VARIANTS",
    "SAMPLE_RATE",
    "Speaker",
    "apply_channel",
    "channel_response",
    "held_out_from_training_families",
    "make_speakers",
    "render_words",
    "split_speakers",
    "talker_stream",
]

SAMPLE_RATE = 16000

#: English accents of espeak-ng used for speakers (all shipped in espeak-ng-data/lang/gmw).
ENGLISH_VOICES = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbcwmd",
    "en-gb-x-gbclan",
)
#: espeak-ng voice variants (espeak-ng-data/voices/!v) that sound like plausible adult/child voices.
FEMALE_VARIANTS = (
    "f1", "f2", "f3", "f4", "f5", "Annie", "Andrea", "anika", "belinda", "linda", "steph",
    "grandma", "Alicia", "shelby", "zac",
)
MALE_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Denis", "Gene", "Lee", "Michael",
    "ed", "john", "paul", "quincy", "rob", "travis", "victor", "klatt", "klatt2", "klatt3",
    "grandpa", "adam",
)


# ----------------------------------------------------------------------------------------------
# speakers and their recording channel
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: espeak voice settings plus a fixed recording channel.

    Attributes:
        id: 8 hex digits, used in file names like Speech Commands (``<id>_nohash_<n>.wav``).
        voice: espeak language (accent), e.g. ``"en-gb-scotland"``.
        variant: espeak voice variant, e.g. ``"f3"``.
        female: Whether the variant is a female/child voice (for balanced splits).
        pitch, pitch_range, rate: espeak base pitch (0..100), range (0..100), words per minute.
        highpass_hz, lowpass_hz: Microphone band edges (biquads, Q = 0.707).
        eq_hz, eq_gain_db, eq_q: One peaking-EQ band (microphone/room colouring).
        rt60_s: Reverberation time of the room impulse response; 0 = dry.
        reverb_wet: Energy of the reverberant tail relative to the direct sound.
        floor_db: Recording noise floor (pink) relative to the clip peak, dB.
        room_seed: Seed of this speaker's room impulse response.
        formant_scale: Vocal-tract scaling: espeak's 22050 Hz output is read as if sampled at
            ``22050 * formant_scale`` Hz (rounded to 400 Hz), which scales formants and pitch by
            ``formant_scale`` and durations by its inverse (like vocal tract length perturbation).
    """

    id: str
    voice: str
    variant: str
    female: bool
    pitch: int
    pitch_range: int
    rate: int
    highpass_hz: float
    lowpass_hz: float
    eq_hz: float
    eq_gain_db: float
    eq_q: float
    rt60_s: float
    reverb_wet: float
    floor_db: float
    room_seed: int
    formant_scale: float = 1.0

    @property
    def espeak_voice(self) -> str:
        """``"<voice>+<variant>"`` as espeak-ng expects it."""
        return f"{self.voice}+{self.variant}"


def _u(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def make_speakers(count: int = 40, seed: int = 0) -> list[Speaker]:
    """Draw ``count`` distinct speakers (about 3/8 female) deterministically from ``seed``.

    Variants are used without repetition while they last; accents cycle through
    :data:`ENGLISH_VOICES` so every accent has male and female speakers.

    Raises:
        ValueError: ``count`` is not in ``1..len(FEMALE_VARIANTS) + len(MALE_VARIANTS)``.

    Example:
        >>> [s.espeak_voice for s in make_speakers(2, seed=0)]  # doctest: +SKIP
        ['en-us+f4', 'en+m7']
    """
    limit = len(FEMALE_VARIANTS) + len(MALE_VARIANTS)
    if not 1 <= count <= limit:
        raise ValueError(f"count ({count}) must be between 1 and {limit} (one speaker per voice variant)")
    g = torch.Generator().manual_seed(derive_seed("speakers", seed))
    n_female = min(len(FEMALE_VARIANTS), round(count * 3 / 8))
    female = [FEMALE_VARIANTS[i] for i in torch.randperm(len(FEMALE_VARIANTS), generator=g)[:n_female]]
    male = [MALE_VARIANTS[i] for i in torch.randperm(len(MALE_VARIANTS), generator=g)[: count - n_female]]
    variants = [(v, True) for v in female] + [(v, False) for v in male]
    order = torch.randperm(count, generator=g).tolist()
    speakers = []
    for i, j in enumerate(order):
        variant, is_female = variants[j]
        speakers.append(
            Speaker(
                id=f"{derive_seed('speaker-id', seed, i) & 0xFFFFFFFF:08x}",
                voice=ENGLISH_VOICES[i % len(ENGLISH_VOICES)],
                variant=variant,
                female=is_female,
                pitch=round(_u(g, 35, 75) if is_female else _u(g, 25, 65)),
                pitch_range=round(_u(g, 25, 90)),
                rate=round(_u(g, 135, 205)),
                highpass_hz=round(_u(g, 50, 250), 1),
                lowpass_hz=round(_u(g, 3500, 7800), 1),
                eq_hz=round(250 * 16 ** _u(g, 0, 1), 1),
                eq_gain_db=round(_u(g, -8, 8), 2),
                eq_q=round(_u(g, 0.7, 2.5), 2),
                rt60_s=round(_u(g, 0.1, 0.6), 3) if _u(g, 0, 1) < 0.6 else 0.0,
                reverb_wet=round(_u(g, 0.05, 0.4), 3),
                floor_db=round(_u(g, -65, -40), 1),
                room_seed=derive_seed("room", seed, i),
                formant_scale=round(_u(g, 0.9, 1.12), 3),
            )
        )
    return speakers


def split_speakers(speakers: list[Speaker], seed: int = 0, fraction: float = 0.15) -> dict[str, list[Speaker]]:
    """Assign whole speakers to ``training``/``validation``/``testing`` (about 70/15/15).

    Female and male speakers are split separately so every subset has both.

    Example:
        >>> parts = split_speakers(make_speakers(40))  # doctest: +SKIP
        >>> {k: len(v) for k, v in parts.items()}  # doctest: +SKIP
        {'training': 28, 'validation': 6, 'testing': 6}
    """
    g = torch.Generator().manual_seed(derive_seed("split", seed))
    parts: dict[str, list[Speaker]] = {"training": [], "validation": [], "testing": []}
    for is_female in (True, False):
        group = [s for s in speakers if s.female == is_female]
        group = [group[i] for i in torch.randperm(len(group), generator=g)]
        n_held = round(len(group) * fraction)
        parts["validation"] += group[:n_held]
        parts["testing"] += group[n_held : 2 * n_held]
        parts["training"] += group[2 * n_held :]
    return parts


def held_out_from_training_families(parts: dict[str, list[Speaker]], seed: int = 0) -> dict[str, list[Speaker]]:
    """Give every validation and testing speaker the voice variant of a training speaker of the same sex.

    Real test speakers are new people, not new synthesis engines: a held-out speaker keeps its own accent, pitch,
    pitch range, rate, vocal-tract scaling and recording channel (independent draws), and takes a voice variant
    (``m3``, ``klatt``, ...) that training has, drawn without repetition within a subset while the training
    variants last. Training speakers are returned unchanged.

    Example:
        >>> parts = held_out_from_training_families(split_speakers(make_speakers(40)))  # doctest: +SKIP
        >>> {s.variant for s in parts["testing"]} <= {s.variant for s in parts["training"]}  # doctest: +SKIP
        True
    """
    from dataclasses import replace

    g = torch.Generator().manual_seed(derive_seed("held-out-variants", seed))
    out = {"training": list(parts["training"])}
    for name in ("validation", "testing"):
        group = []
        pools: dict[bool, list[str]] = {}
        for s in parts[name]:
            pool = pools.get(s.female)
            if not pool:
                variants = [t.variant for t in parts["training"] if t.female == s.female]
                if not variants:
                    raise ValueError(f"no training speaker with female={s.female} to lend a voice variant to "
                                     f"{name} speaker {s.id}")
                pool = pools[s.female] = [variants[i] for i in torch.randperm(len(variants), generator=g)]
            group.append(replace(s, variant=pool.pop()))
        out[name] = group
    return out


def channel_response(speaker: Speaker, sample_rate: int = SAMPLE_RATE, taps: int = 4096) -> Tensor:
    """Impulse response of the speaker's channel: high-pass, low-pass and peaking-EQ biquads
    (run on a unit impulse, ``taps`` long), convolved with the room impulse when ``rt60_s > 0``."""
    h = torch.zeros(taps)
    h[0] = 1.0
    h = AF.highpass_biquad(h, sample_rate, speaker.highpass_hz)
    h = AF.lowpass_biquad(h, sample_rate, min(speaker.lowpass_hz, 0.45 * sample_rate))
    h = AF.equalizer_biquad(h, sample_rate, speaker.eq_hz, speaker.eq_gain_db, speaker.eq_q)
    if speaker.rt60_s > 0:
        g = torch.Generator().manual_seed(speaker.room_seed)
        room = room_impulse(sample_rate, speaker.rt60_s, speaker.reverb_wet, g)
        h = torch.cat([h, torch.zeros(room.numel() - 1)])
        h = fft_convolve(h, room, n_fft=fast_fft_size(h.numel() + room.numel() - 1))
    return h




def apply_channel(x: Tensor, speaker: Speaker, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Colour waveforms ``(..., time)`` with the speaker's microphone and room (same length out):
    ``y = (x * h)[:time]`` with ``h`` from :func:`channel_response`."""
    h = channel_response(speaker, sample_rate)
    # the 5-smooth FFT size the bundled data was generated with (same samples as before preferred_fft_size)
    return fft_convolve(x, h, n_fft=fast_fft_size(x.shape[-1] + min(h.numel(), x.shape[-1]) - 1))




def _resample(chunks: list[Tensor], sample_rate: int, formant_scale: float = 1.0) -> list[Tensor]:
    """Resample espeak outputs to ``sample_rate`` in one padded batch, reading them as sampled at
    ``22050 * formant_scale`` Hz, rounded to 400 Hz so the polyphase kernel stays small."""
    source = int(round(ESPEAK_RATE * formant_scale / 400) * 400)
    longest = max(c.numel() for c in chunks)
    batch = torch.stack([torch.nn.functional.pad(c, (0, longest - c.numel())) for c in chunks])
    out = AF.resample(batch, source, sample_rate)
    return [o[: math.ceil(c.numel() * sample_rate / source)] for o, c in zip(out, chunks)]


def _trim(x: Tensor, sample_rate: int, threshold_db: float = -40.0) -> Tensor:
    """Drop leading/trailing 10 ms frames quieter than ``threshold_db`` below the loudest frame,
    then fade 5 ms in and out so the cut makes no click."""
    hop, fade = sample_rate // 100, sample_rate // 200
    frames = x[: x.numel() // hop * hop].reshape(-1, hop).pow(2).mean(1)
    if frames.numel() == 0 or frames.max() == 0:
        return x
    loud = (frames >= frames.max() * 10 ** (threshold_db / 10)).nonzero().flatten()
    start, stop = int(loud[0]) * hop, min(x.numel(), (int(loud[-1]) + 2) * hop)
    x = x[start:stop].clone()
    ramp = torch.linspace(0, 1, min(fade, x.numel() // 2))
    if ramp.numel():
        x[: ramp.numel()] *= ramp
        x[-ramp.numel() :] *= ramp.flip(0)
    return x


def _say(tts: Espeak, speaker: Speaker, text: str, g: torch.Generator) -> Tensor:
    """One utterance with per-utterance jitter of rate (+-12 %) and pitch (+-6)."""
    return tts.say(
        text,
        speaker.espeak_voice,
        rate=round(speaker.rate * _u(g, 0.88, 1.12)),
        pitch=round(min(100, max(0, speaker.pitch + _u(g, -6, 6)))),
        pitch_range=speaker.pitch_range,
        seed=int(torch.randint(0, 2**31 - 1, (), generator=g)),
    )


def render_words(
    speaker: Speaker,
    words: list[str],
    generator: torch.Generator,
    sample_rate: int = SAMPLE_RATE,
    clip_samples: int = SAMPLE_RATE,
) -> Tensor:
    """Speak each word once into a fixed-length clip; returns ``(len(words), clip_samples)``.

    Per utterance: random punctuation (intonation), rate/pitch jitter, silence trimmed at -40 dB,
    onset uniform in the clip (20 ms margins; longer words are cut with a 10 ms fade), the
    speaker's channel, a pink noise floor at ``speaker.floor_db`` below the peak, and a peak level
    uniform in [-20, -1] dBFS.

    Example:
        >>> s = make_speakers(1)[0]
        >>> render_words(s, ["yes", "no"], torch.Generator().manual_seed(0)).shape  # doctest: +SKIP
        torch.Size([2, 16000])
    """
    marks = ("", ".", "?", "!")
    with Espeak() as tts:
        raw = [
            _say(tts, speaker, w + marks[int(torch.randint(0, 4, (), generator=generator))], generator)
            for w in words
        ]
    for w, r in zip(words, raw):
        if r.numel() == 0 or r.abs().max() == 0:
            raise ValueError(f"espeak-ng produced no audio for {w!r} with voice {speaker.espeak_voice!r}")
    margin, fade = sample_rate // 50, sample_rate // 100
    clips = torch.zeros(len(words), clip_samples)
    for k, voice in enumerate(_resample(raw, sample_rate, speaker.formant_scale)):
        voice = _trim(voice, sample_rate)
        room = clip_samples - 2 * margin
        if voice.numel() > room:
            voice = voice[:room].clone()
            voice[-fade:] *= torch.linspace(1, 0, fade)
        onset = margin + int(torch.randint(0, room - voice.numel() + 1, (), generator=generator))
        clips[k, onset : onset + voice.numel()] = voice
    clips = apply_channel(clips, speaker, sample_rate)
    peak = clips.abs().amax(dim=1, keepdim=True).clamp_min(1e-9)
    floor = colored_noise((len(words), clip_samples), "pink", generator)
    clips = clips + floor * peak * 10 ** (speaker.floor_db / 20)
    level_db = -20 + 19 * torch.rand(len(words), 1, generator=generator)
    return clips * 10 ** (level_db / 20) / clips.abs().amax(dim=1, keepdim=True).clamp_min(1e-9)


def talker_stream(
    speaker: Speaker, sentences: tuple[str, ...], seconds: float, generator: torch.Generator,
    sample_rate: int = SAMPLE_RATE,
) -> Tensor:
    """One talker reading random ``sentences`` with 0.2..1.0 s pauses, about ``seconds`` long."""
    parts, total = [], 0
    with Espeak() as tts:
        while total < seconds * sample_rate:
            text = sentences[int(torch.randint(0, len(sentences), (), generator=generator))]
            speech = _resample([_say(tts, speaker, text, generator)], sample_rate, speaker.formant_scale)[0]
            pause = torch.zeros(int(_u(generator, 0.2, 1.0) * sample_rate))
            parts += [speech, pause]
            total += speech.numel() + pause.numel()
    return apply_channel(torch.cat(parts), speaker, sample_rate)
