"""Pure tensor maths of audionoise: no state, no random number generator of its own."""

from audionoise.functional.masks import freq_mask, spec_time_mask, time_mask
from audionoise.functional.noise import COLORS, colored_noise, shape_noise
from audionoise.functional.reverb import fft_convolve, room_impulse
from audionoise.functional.snr import SNR_REFERENCES, active_mask, mix_at_snr, power, rms, snr_db, snr_gain
from audionoise.functional.warp import warp_spectrogram

__all__ = ["COLORS", "SNR_REFERENCES", "active_mask", "colored_noise", "fft_convolve", "freq_mask", "mix_at_snr",
           "power", "rms", "room_impulse", "shape_noise", "snr_db", "snr_gain", "spec_time_mask", "time_mask",
           "warp_spectrogram"]
