"""Pure tensor maths of audionoise: no state, no random number generator of its own."""

from audionoise.functional.align import estimate_delay
from audionoise.functional.bursts import add_bursts, burst_envelope
from audionoise.functional.frames import frame_lengths
from audionoise.functional.filters import a_law, butterworth_response, fft_filter, mu_law, telephone
from audionoise.functional.level import CLIP_POLICIES, handle_clipping, level, level_gain, peak
from audionoise.functional.masks import freq_mask, spec_time_mask, time_mask
from audionoise.functional.noise import COLORS, colored_noise, shape_noise
from audionoise.functional.rir import energy_decay_db, fft_convolve, room_impulse, rt60, synthetic_rir
from audionoise.functional.speed import speed
from audionoise.functional.snr import SNR_REFERENCES, active_mask, mix_at_snr, power, rms, snr_db, snr_gain
from audionoise.functional.warp import warp_spectrogram
from audionoise.functional.distortion import bit_crush, clip_threshold, clipped_fraction, hard_clip
from audionoise.functional.eq import biquad_coefficients, biquad_filter, biquad_response, sos_filter
from audionoise.functional.loudness import integrated_loudness, k_weighting

__all__ = ["CLIP_POLICIES", "COLORS", "SNR_REFERENCES", "a_law", "active_mask", "add_bursts", "burst_envelope",
           "butterworth_response", "colored_noise",
           "energy_decay_db", "estimate_delay", "fft_convolve", "fft_filter", "frame_lengths", "freq_mask", "handle_clipping", "level",
           "level_gain", "mix_at_snr", "mu_law", "peak", "power", "rms", "room_impulse", "rt60", "shape_noise",
           "snr_db", "snr_gain", "spec_time_mask", "speed", "synthetic_rir", "telephone", "time_mask",
           "warp_spectrogram", "bit_crush", "clip_threshold", "clipped_fraction", "hard_clip", "biquad_coefficients",
           "biquad_filter", "biquad_response", "integrated_loudness", "k_weighting", "sos_filter"]
