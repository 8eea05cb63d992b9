"""Log-Mel frontend of the keyword-spotting model.

The frontend turns a batch of waveforms into per-utterance normalised log-Mel spectrograms:

.. math::

    M_{f,t} = \\log\\big(\\mathrm{mel}(|\\mathrm{STFT}(x)|^2)_{f,t} + \\epsilon\\big), \\qquad
    \\hat M_{f,t} = \\frac{M_{f,t} - \\mu_f}{\\sigma},

where :math:`\\mu_f` is the mean of Mel bin ``f`` and :math:`\\sigma` the standard deviation of
:math:`M - \\mu` over the *valid* frames of the utterance (padding is excluded and set to 0 afterwards).
Subtracting a per-bin mean removes the recording channel and the overall level (a gain is a constant
shift in the log domain), which is what makes the features robust to microphones and loudness; the
single :math:`\\sigma` keeps the spectral shape.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import Tensor, nn

from audionoise.functional.frames import frame_lengths

__all__ = ["LogMel", "frame_lengths", "normalize_per_utterance"]


def normalize_per_utterance(spec: Tensor, lengths: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Per-utterance normalisation of a log spectrogram ``(batch, freq, frames)``.

    Subtracts the per-bin mean :math:`\\mu_f = \\frac{1}{L}\\sum_{t<L} M_{f,t}` and divides by one
    standard deviation :math:`\\sigma = \\sqrt{\\frac{1}{FL}\\sum_{f,t<L}(M_{f,t}-\\mu_f)^2 + \\epsilon}`,
    both over the ``L`` valid frames of each example; frames ``t >= L`` are set to 0.

    Example:
        >>> s = torch.arange(6.0).reshape(1, 1, 6)
        >>> normalize_per_utterance(s, torch.tensor([3]))
        tensor([[[-1.2247,  0.0000,  1.2247,  0.0000,  0.0000,  0.0000]]])
    """
    batch, _, frames = spec.shape
    if lengths is None:
        valid = torch.ones(batch, 1, frames, dtype=spec.dtype, device=spec.device)
    else:
        t = torch.arange(frames, device=spec.device)
        valid = (t[None, :] < lengths.to(spec.device)[:, None]).to(spec.dtype)[:, None, :]
    count = valid.sum(dim=-1, keepdim=True).clamp_min(1.0)  # (B, 1, 1)
    mean = (spec * valid).sum(dim=-1, keepdim=True) / count
    centred = (spec - mean) * valid
    var = centred.square().sum(dim=(-2, -1), keepdim=True) / (count * spec.shape[1])
    return centred / torch.sqrt(var + eps)


class LogMel(nn.Module):
    """Waveform -> normalised log-Mel spectrogram, with frame lengths.

    Args:
        sample_rate: Input sample rate in Hz.
        n_mels: Number of Mel bins.
        win_ms: Analysis window (Hann) in milliseconds; ``n_fft`` is the next power of two.
        hop_ms: Hop between frames in milliseconds.
        f_min: Lowest Mel filter edge in Hz.
        f_max: Highest Mel filter edge in Hz (``None``: Nyquist).
        normalize: Apply :func:`normalize_per_utterance`.
        eps: Floor added to the Mel power before the log.

    Example:
        >>> frontend = LogMel()
        >>> spec, flen = frontend(torch.zeros(2, 1, 16000), torch.tensor([16000, 8000]))
        >>> spec.shape, flen.tolist()
        (torch.Size([2, 40, 101]), [101, 51])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 40,
        win_ms: float = 30.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        f_max: float | None = None,
        normalize: bool = True,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate ({sample_rate}) must be a positive number of Hz")
        if n_mels <= 0:
            raise ValueError(f"n_mels ({n_mels}) must be a positive number of Mel bins, e.g. 40")
        if not 0 < hop_ms <= win_ms:
            raise ValueError(f"hop_ms ({hop_ms}) must be in (0, win_ms={win_ms}]")
        self.sample_rate = int(sample_rate)
        self.n_mels = int(n_mels)
        self.win_length = round(sample_rate * win_ms / 1000.0)
        self.hop_length = round(sample_rate * hop_ms / 1000.0)
        n_fft = 1 << (self.win_length - 1).bit_length()
        self.normalize = normalize
        self.eps = eps
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=self.win_length,
            hop_length=self.hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            power=2.0,
        )

    def frames(self, lengths: Tensor) -> Tensor:
        """Valid frames for ``lengths`` valid samples (see :func:`frame_lengths`)."""
        return frame_lengths(lengths, self.hop_length)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(spec, frame_lengths)``; ``spec`` is ``(batch, n_mels, frames)`` float32.

        ``x`` is ``(batch, time)`` or ``(batch, channels, time)`` (channels are averaged).
        """
        if x.dim() == 3:
            x = x.mean(dim=1)
        if x.dim() != 2:
            raise ValueError(f"waveform must be (batch, time) or (batch, channels, time), got shape {tuple(x.shape)}")
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[-1], dtype=torch.long, device=x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.log(self.mel(x.float()) + self.eps)
            flen = self.frames(lengths.to(x.device)).clamp_max(spec.shape[-1])
            if self.normalize:
                spec = normalize_per_utterance(spec, flen)
        return spec, flen
