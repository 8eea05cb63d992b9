"""Hand-written lower bounds: the least torch code that does the same work as each injector.

Each function draws its random parameters from the given generator and applies them, with no
validation, no records, no ``lengths`` handling and no silent-input policy. What is left is the
arithmetic every correct implementation must do, written the fastest way we found; the ratio
``audionoise / lower bound`` then measures the library's overhead.

SNR scaling used throughout (exact per example, as in DESIGN.md):

    g = sqrt(P_s / (P_n * 10**(snr_db / 10))),   y = x + g * n,   P = mean(v**2) over time.

``P`` is taken with :func:`torch.linalg.vector_norm`, which reads the tensor once and allocates
no temporary, and ``y`` with one fused :func:`torch.addcmul` written into the noise buffer
(``out=noise``): the noise is fresh and used once, so each call allocates one batch-sized tensor.
On CPU that matters: a fresh 4 MB tensor costs about 1000 page faults (~1-3 ms) whenever the
allocator hands memory back to the OS between calls.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.ones(2, 16000)
    >>> y = white_noise(x, 10.0, 10.0, g)
    >>> round(float((y - x).pow(2).mean().sqrt()), 4)
    0.3162
"""

from __future__ import annotations

import math

import torch


def uniform(batch: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    """``batch`` draws from U(low, high) as float32 on ``device``."""
    u = torch.rand(batch, generator=generator, device=device)
    return u.mul_(high - low).add_(low)


def snr_gain(x: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Per-row gain ``g`` with ``10*log10(P_x / P_{g*noise}) == snr_db``; shape ``(batch, 1)``.

    Uses ``P_x / P_n = (||x|| / ||n||)**2`` (the common 1/T cancels).
    """
    ratio = torch.linalg.vector_norm(x, dim=-1) / torch.linalg.vector_norm(noise, dim=-1)
    return (ratio * torch.pow(10.0, snr_db / -20.0)).unsqueeze(-1)


def white_noise(x: torch.Tensor, min_snr_db: float, max_snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """White Gaussian noise at an exact per-example SNR on a ``(batch, time)`` batch.

    Work: one ``randn`` (write), two norms (read x, read n), one ``addcmul`` (read 2, write 1).
    """
    snr = uniform(x.shape[0], min_snr_db, max_snr_db, generator, x.device)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return torch.addcmul(x, snr_gain(x, noise, snr), noise, out=noise)


def pink_spectrum_weights(num_bins: int, exponent: torch.Tensor) -> torch.Tensor:
    """Amplitude weights ``f**(-exponent/2)`` for rfft bins 1..num_bins-1; DC weight 0.

    ``exponent`` has shape ``(batch,)``; the result ``(batch, num_bins)``. Power then falls as
    ``1/f**exponent`` (3.01 dB per octave for pink, exponent 1).
    """
    f = torch.arange(num_bins, device=exponent.device, dtype=torch.float32)
    f[0] = 1.0
    w = torch.exp(torch.log(f).unsqueeze(0) * (exponent.unsqueeze(-1) * -0.5))
    w[:, 0] = 0.0
    return w


def colored_noise(
    x: torch.Tensor,
    min_snr_db: float,
    max_snr_db: float,
    exponent: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """1/f**exponent noise over the whole length (no repetition) at an exact per-example SNR.

    Work: randn, rfft, per-example spectral weights, irfft, two norms, addcmul.
    """
    batch, length = x.shape
    snr = uniform(batch, min_snr_db, max_snr_db, generator, x.device)
    expo = torch.full((batch,), float(exponent), device=x.device)
    spec = torch.fft.rfft(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype))
    spec.mul_(pink_spectrum_weights(spec.shape[-1], expo))
    noise = torch.fft.irfft(spec, n=length)
    return torch.addcmul(x, snr_gain(x, noise, snr), noise, out=noise)


class PreloadedBank:
    """Noise clips decoded once into one contiguous 1-D tensor, each clip at least ``length`` long.

    Clips shorter than ``length`` are tiled (looped) when the bank is built, so every window
    ``bank[s : s + length]`` with ``s`` in a clip's valid range is plain noise from that clip.
    ``windows`` is the zero-copy ``unfold`` view of all such windows, so fetching a batch of
    windows is a single ``index_select`` (one contiguous copy of ``batch * length`` floats).
    """

    def __init__(self, clips: list[torch.Tensor], length: int, device="cpu"):
        tiled = []
        for clip in clips:
            clip = clip.reshape(-1).to(torch.float32)
            if clip.numel() < length:
                clip = clip.repeat(math.ceil(length / clip.numel()))
            tiled.append(clip)
        sizes = torch.tensor([c.numel() for c in tiled])
        self.length = length
        self.bank = torch.cat(tiled).to(device)
        self.starts = (torch.cumsum(sizes, 0) - sizes).to(device)
        self.spans = (sizes - length + 1).to(device)  # number of valid window starts per clip
        self.windows = self.bank.unfold(0, length, 1)

    def draw(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Random clip and random offset per example -> ``(batch, length)`` copy."""
        device = self.bank.device
        clip = torch.randint(self.spans.numel(), (batch,), generator=generator, device=device)
        offset = (torch.rand(batch, generator=generator, device=device) * self.spans[clip]).long()
        return self.windows.index_select(0, self.starts[clip] + offset)


def background_noise(
    x: torch.Tensor,
    bank: PreloadedBank,
    min_snr_db: float,
    max_snr_db: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mix a random window of a preloaded noise bank into each example at an exact SNR."""
    snr = uniform(x.shape[0], min_snr_db, max_snr_db, generator, x.device)
    noise = bank.draw(x.shape[0], generator)
    return torch.addcmul(x, snr_gain(x, noise, snr), noise, out=noise)


def short_noises(x: torch.Tensor, bank: PreloadedBank, events: int, min_snr_db: float, max_snr_db: float,
                 generator: torch.Generator) -> torch.Tensor:
    """``events`` bursts of ``bank.length`` samples per example at random starts, each at an exact SNR over its own
    span, added into a copy of ``x`` (``(batch, time)``): one gather of the spans, one window draw, two norms and
    one ``scatter_add`` (no fades, a fixed count and duration: the least work of an average example)."""
    b, t = x.shape
    d = bank.length
    starts = (torch.rand(b, events, generator=generator, device=x.device) * (t - d + 1)).long()
    idx = (starts[..., None] + torch.arange(d, device=x.device)).view(b, -1)
    span = x.gather(1, idx).view(b * events, d)
    noise = bank.draw(b * events, generator)
    snr = uniform(b * events, min_snr_db, max_snr_db, generator, x.device)
    burst = (snr_gain(span, noise, snr) * noise).view(b, -1)
    return x.clone().scatter_add_(1, idx, burst)


def mask_params(
    batch: int, num_masks: int, length: int, max_width: int, generator: torch.Generator, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Widths uniform in ``0..max_width`` and starts uniform in ``0..length-width``, ``(batch, num_masks)``."""
    width = torch.randint(max_width + 1, (batch, num_masks), generator=generator, device=device)
    start = (torch.rand(batch, num_masks, generator=generator, device=device) * (length - width + 1)).long()
    return start, width


def time_mask_loop(x: torch.Tensor, max_width: int, generator: torch.Generator, num_masks: int = 1) -> torch.Tensor:
    """Waveform time mask: clone, then zero ``x[i, s:s+w]`` with one slice write per mask.

    Parameters are moved to the host once (one ``tolist``) and each mask is a memset of ``w``
    samples on a plain slice view of the row (``unbind`` + basic slicing + ``zero_``: about 2 us per
    mask, against 3.4 us for ``y[i, ..., s:e] = 0``), so the cost is the clone plus
    ``batch * num_masks`` tiny kernel calls.
    """
    start, width = mask_params(x.shape[0], num_masks, x.shape[-1], max_width, generator, x.device)
    y = x.clone()
    for row, ss, ws in zip(y.unbind(0), start.tolist(), width.tolist()):
        for s, w in zip(ss, ws):
            row[..., s : s + w].zero_()
    return y


def time_mask_vectorized(
    x: torch.Tensor, max_width: int, generator: torch.Generator, num_masks: int = 1
) -> torch.Tensor:
    """Waveform time mask without a Python loop: ``arange`` comparison + ``masked_fill``.

    Reads and writes the whole batch and builds a ``(batch, time)`` boolean mask, so on CPU it
    is usually slower than :func:`time_mask_loop`; on GPU it avoids the host sync of ``tolist``.
    """
    length = x.shape[-1]
    start, width = mask_params(x.shape[0], num_masks, length, max_width, generator, x.device)
    t = torch.arange(length, device=x.device)
    rel = t.view(1, 1, -1) - start.unsqueeze(-1)
    hit = ((rel >= 0) & (rel < width.unsqueeze(-1))).any(dim=1)
    if x.dim() == 3:
        hit = hit.unsqueeze(1)
    return x.masked_fill(hit, 0.0)


def spec_mask_vectorized(
    spec: torch.Tensor, max_width: int, num_masks: int, axis: int, generator: torch.Generator
) -> torch.Tensor:
    """SpecAugment mask on ``(batch, freq, frames)``: ``axis=-1`` time, ``axis=-2`` frequency.

    Builds a ``(batch, size)`` boolean mask along ``axis`` and broadcasts it in one
    ``masked_fill`` (the spectrogram is small: the cost is a handful of kernel launches).
    """
    size = spec.shape[axis]
    start, width = mask_params(spec.shape[0], num_masks, size, max_width, generator, spec.device)
    pos = torch.arange(size, device=spec.device).view(1, 1, -1) - start.unsqueeze(-1)
    hit = ((pos >= 0) & (pos < width.unsqueeze(-1))).any(dim=1)
    hit = hit.unsqueeze(1) if axis in (-1, spec.dim() - 1) else hit.unsqueeze(-1)
    return spec.masked_fill(hit, 0.0)


def spec_mask_loop(
    spec: torch.Tensor, max_width: int, num_masks: int, axis: int, generator: torch.Generator
) -> torch.Tensor:
    """Same as :func:`spec_mask_vectorized` with a clone and one slice write per mask."""
    size = spec.shape[axis]
    start, width = mask_params(spec.shape[0], num_masks, size, max_width, generator, spec.device)
    y = spec.clone()
    time_axis = axis in (-1, spec.dim() - 1)
    for row, ss, ws in zip(y.unbind(0), start.tolist(), width.tolist()):
        for s, w in zip(ss, ws):
            (row[:, s : s + w] if time_axis else row[s : s + w]).zero_()
    return y


def gain(x: torch.Tensor, min_db: float, max_db: float, generator: torch.Generator) -> torch.Tensor:
    """Per-example gain in dB: one multiply by ``10**(g/20)``."""
    g = uniform(x.shape[0], min_db, max_db, generator, x.device)
    return x * torch.pow(10.0, g / 20.0).unsqueeze(-1)


def time_shift_pad(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Per-example shift by ``-max_shift..max_shift`` samples with zeros shifted in (``y[t] = x[t - s]``).

    Zero-pad every row by ``max_shift`` on both sides (one copy), view all windows of the flat
    padded batch with ``unfold`` and ``index_select`` row ``b`` at ``b*(T + 2m) + m - s_b`` (one
    copy): no ``(batch, time)`` int64 index tensor, no mask.
    """
    batch, length = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (batch,), generator=generator, device=x.device)
    padded = torch.nn.functional.pad(x, (max_shift, max_shift))
    row = torch.arange(batch, device=x.device) * padded.shape[-1]
    return padded.reshape(-1).unfold(0, length, 1).index_select(0, row + max_shift - shift)


def time_shift_roll(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Per-example circular shift by ``-max_shift..max_shift`` samples via one ``gather``."""
    batch, length = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (batch, 1), generator=generator, device=x.device)
    idx = (torch.arange(length, device=x.device).unsqueeze(0) - shift) % length
    return torch.gather(x, 1, idx)


def on_rows(
    x: torch.Tensor, p: float, fn, generator: torch.Generator
) -> torch.Tensor:
    """Apply ``fn`` to each row of ``x`` with probability ``p``, computing it for those rows only.

    On CPU the chosen rows are gathered, transformed and scattered into a copy of ``x``
    (``fn`` does ``p`` of the work); on GPU selecting rows would sync with the host, so ``fn`` runs
    on every row and ``torch.where`` keeps the chosen ones.
    """
    hit = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    if x.device.type != "cpu":
        return torch.where(hit.view(-1, *([1] * (x.dim() - 1))), fn(x), x)
    rows = torch.nonzero(hit).flatten()
    if rows.numel() == 0:
        return x.clone()
    return torch.index_copy(x, 0, rows, fn(x.index_select(0, rows)))
