"""Closed-form test signals and measurements shared by the channel/room injector tests."""

import math

import numpy as np
import torch

SR = 16000


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.5, sr: int = SR) -> torch.Tensor:
    """A sine of ``freq`` Hz, ``(time,)`` float32."""
    t = torch.arange(int(round(seconds * sr)), dtype=torch.float64) / sr
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()


def peak_frequency(y: torch.Tensor, sr: int = SR) -> float:
    """Frequency of the strongest spectral peak of a 1-D signal, refined to a fraction of a bin.

    Hann window, 16x zero-padded FFT, then a parabola through the log magnitudes of the peak bin and its two
    neighbours (the Gaussian-window interpolation; error well below 0.1 Hz for a clean tone of 1 s).
    """
    a = y.detach().double().cpu().numpy()
    n = a.shape[-1]
    size = 16 * n
    mag = np.abs(np.fft.rfft(a * np.hanning(n), size)) + 1e-300
    k = int(np.argmax(mag[1:-1])) + 1
    lo, mid, hi = np.log(mag[k - 1:k + 2])
    return (k + 0.5 * (lo - hi) / (lo - 2 * mid + hi)) * sr / size


def gain_db(y: torch.Tensor, x: torch.Tensor, skip: int = 2000) -> float:
    """RMS gain of ``y`` re ``x`` in dB, leaving out ``skip`` samples at both ends (filter/resampler transients)."""
    num = y[..., skip:-skip].double().pow(2).mean()
    den = x[..., skip:-skip].double().pow(2).mean()
    return float(10 * torch.log10(num / den))


def band_energy_db(y: torch.Tensor, lo: float, hi: float, ref_lo: float, ref_hi: float, sr: int = SR) -> float:
    """Mean power spectral density in [lo, hi) Hz re the mean density in [ref_lo, ref_hi), in dB.

    Hann-windowed periodogram (averaged over the rows): its leakage falls 18 dB per octave, so a stop band 80 dB
    down is not masked by the pass band's sidelobes.
    """
    a = y.detach().double().cpu().numpy().reshape(-1, y.shape[-1])
    psd = (np.abs(np.fft.rfft(a * np.hanning(a.shape[-1]), axis=-1)) ** 2).mean(0)
    f = np.fft.rfftfreq(a.shape[-1], 1 / sr)
    band = psd[(f >= lo) & (f < hi)].mean()
    ref = psd[(f >= ref_lo) & (f < ref_hi)].mean()
    return float(10 * np.log10(band / ref))
