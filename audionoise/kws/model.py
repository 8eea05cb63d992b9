"""Keyword-spotting networks on log-Mel features: MatchboxNet or BC-ResNet.

The model takes *features* ``(batch, n_mels, frames)``; the log-Mel frontend that makes them
(:class:`~audionoise.kws.features.LogMel`, built for a model with :func:`make_frontend`) is a separate module
that the trainer and the evaluator call first, so training can augment the features in between:
``logits = model(frontend(x, lengths)[0])``.

Two compact, modern KWS architectures are available (``ModelConfig.arch``):

* ``"matchboxnet"`` (default; Majumdar & Ginsburg, Interspeech 2020): 1-D time-channel separable
  convolutions over the Mel bins as channels, residual blocks ``B x R`` = 3 x 2 with 64 x ``width``
  channels, kernels 13/15/17 and a dilated epilogue. 87k parameters at ``width=1`` (12 classes). Its
  feature maps are 1-D, so it is cheap on CPUs and converges in few epochs.
* ``"bcresnet"`` (Kim et al., Interspeech 2021), see below.

BC-ResNet ("broadcasted residual learning") processes the ``(freq, time)`` feature map with cheap
frequency-wise depthwise convolutions, averages over frequency, runs a temporal depthwise convolution
on the resulting 1-D sequence and *broadcasts* it back over frequency:

.. math::

    y = \\mathrm{ReLU}\\big(x + f_2(x) + \\mathrm{BC}(f_1(\\mathrm{avgpool}_{freq}(f_2(x))))\\big),

where :math:`f_2` is a 3x1 depthwise conv + SubSpectral Norm and :math:`f_1` a dilated 1x3 depthwise
conv + BN + SiLU + 1x1 conv. ``width`` is the paper's :math:`\\tau` (BC-ResNet-``width``): 9.2k
parameters at 1, 54k at 3 (12 classes).

Weights are initialised from an explicit ``torch.Generator`` (see :func:`init_weights`), so the same
seed gives the same model without touching torch's global RNG.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from audionoise.kws.features import LogMel

__all__ = ["ARCHITECTURES", "BCResNet", "KeywordSpotter", "MatchboxNet", "ModelConfig", "count_parameters",
           "init_weights", "make_frontend"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`KeywordSpotter` (stored in checkpoints).

    Attributes:
        n_classes: Number of output classes.
        arch: ``"matchboxnet"`` or ``"bcresnet"``.
        sample_rate: Input sample rate in Hz.
        n_mels: Mel bins of the frontend (multiple of 8 keeps SubSpectral Norm's 5 sub-bands exact at 40).
        win_ms: Frontend window in milliseconds.
        hop_ms: Frontend hop in milliseconds.
        width: Channel multiplier (MatchboxNet: 64 x ``width`` block channels; BC-ResNet: tau).
        sub_bands: SubSpectral Norm sub-bands of BC-ResNet (1 = plain BatchNorm).
    """

    n_classes: int
    arch: str = "matchboxnet"
    sample_rate: int = 16000
    n_mels: int = 40
    win_ms: float = 30.0
    hop_ms: float = 10.0
    width: float = 1.0
    sub_bands: int = 5

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {self.arch!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class SubSpectralNorm(nn.Module):
    """BatchNorm with separate statistics for ``sub_bands`` equal frequency bands.

    Input ``(B, C, F, T)`` is viewed as ``(B, C*S, F/S, T)`` and batch-normalised; falls back to plain
    BatchNorm when ``F`` is not divisible by ``S``.
    """

    def __init__(self, channels: int, freq: int, sub_bands: int) -> None:
        super().__init__()
        self.sub_bands = sub_bands if sub_bands > 1 and freq % sub_bands == 0 else 1
        self.bn = nn.BatchNorm2d(channels * self.sub_bands)

    def forward(self, x: Tensor) -> Tensor:
        if self.sub_bands == 1:
            return self.bn(x)
        b, c, f, t = x.shape
        return self.bn(x.reshape(b, c * self.sub_bands, f // self.sub_bands, t)).reshape(b, c, f, t)


class BCResBlock(nn.Module):
    """One broadcasted-residual block; a *transition* block (``in != out``) has no identity path."""

    def __init__(
        self, in_ch: int, out_ch: int, freq: int, stride: int, dilation: int, sub_bands: int
    ) -> None:
        super().__init__()
        self.transition = in_ch != out_ch
        if self.transition:
            self.pre = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
            )
        self.freq_dw = nn.Conv2d(
            out_ch, out_ch, (3, 1), stride=(stride, 1), padding=(1, 0), groups=out_ch, bias=False
        )
        self.ssn = SubSpectralNorm(out_ch, (freq - 1) // stride + 1, sub_bands)
        self.time_dw = nn.Conv2d(
            out_ch, out_ch, (1, 3), padding=(0, dilation), dilation=(1, dilation), groups=out_ch, bias=False
        )
        self.time_bn = nn.BatchNorm2d(out_ch)
        self.act = nn.SiLU(inplace=True)
        self.pointwise = nn.Conv2d(out_ch, out_ch, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.transition:
            x = self.pre(x)
        aux = self.ssn(self.freq_dw(x))
        temporal = aux.mean(dim=2, keepdim=True)
        temporal = self.pointwise(self.act(self.time_bn(self.time_dw(temporal))))
        out = aux + temporal  # broadcast over frequency
        if not self.transition:
            out = out + x
        return torch.relu(out)


class BCResNet(nn.Module):
    """BC-ResNet-``width`` classifier on a ``(batch, n_mels, frames)`` feature map.

    Example:
        >>> net = BCResNet(n_classes=12, n_mels=40, width=1)
        >>> net(torch.zeros(2, 40, 101)).shape
        torch.Size([2, 12])
    """

    # (channels multiplier, blocks, frequency stride of the first block, temporal dilation)
    STAGES = ((8, 2, 1, 1), (12, 2, 2, 2), (16, 4, 2, 4), (20, 4, 1, 8))

    def __init__(self, n_classes: int, n_mels: int = 40, width: float = 3.0, sub_bands: int = 5) -> None:
        super().__init__()
        _check_head(n_classes, width)
        ch = lambda m: max(1, round(m * width))  # noqa: E731 - tiny local helper
        stem_ch = ch(16)
        self.stem = nn.Sequential(
            nn.Conv2d(1, stem_ch, 5, stride=(2, 1), padding=2, bias=False),
            nn.BatchNorm2d(stem_ch),
            nn.ReLU(inplace=True),
        )
        freq = (n_mels - 1) // 2 + 1
        blocks: list[nn.Module] = []
        in_ch = stem_ch
        for mult, count, stride, dilation in self.STAGES:
            out_ch = ch(mult)
            for i in range(count):
                s = stride if i == 0 else 1
                blocks.append(BCResBlock(in_ch, out_ch, freq, s, dilation, sub_bands))
                freq = (freq - 1) // s + 1
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        head_ch = ch(32)
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, (freq, 5), padding=(0, 2), groups=in_ch, bias=False),
            nn.Conv2d(in_ch, head_ch, 1, bias=False),
            nn.BatchNorm2d(head_ch),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(head_ch, n_classes, 1)

    def forward(self, spec: Tensor) -> Tensor:
        """Logits ``(batch, n_classes)`` for features ``(batch, n_mels, frames)``."""
        x = self.head(self.blocks(self.stem(spec.unsqueeze(1))))  # (B, C, 1, T)
        x = x.mean(dim=(2, 3), keepdim=True)
        return self.classifier(x).flatten(1)


def _separable(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> list[nn.Module]:
    """Depthwise conv over time (per channel) then pointwise conv across channels, then BatchNorm."""
    return [
        nn.Conv1d(in_ch, in_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=in_ch,
                  bias=False),
        nn.Conv1d(in_ch, out_ch, 1, bias=False),
        nn.BatchNorm1d(out_ch),
    ]


class MatchboxBlock(nn.Module):
    """``repeats`` separable sub-blocks with a pointwise+BN residual added before the last ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, repeats: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for r in range(repeats):
            layers += _separable(ch, out_ch, kernel)
            if r < repeats - 1:
                layers.append(nn.ReLU(inplace=True))
            ch = out_ch
        self.body = nn.Sequential(*layers)
        self.residual = nn.Sequential(nn.Conv1d(in_ch, out_ch, 1, bias=False), nn.BatchNorm1d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.residual(x))


class MatchboxNet(nn.Module):
    """MatchboxNet 3x2x(64 x ``width``) classifier on a ``(batch, n_mels, frames)`` feature map.

    Prologue (separable conv, kernel 11, 128 x ``width`` channels), three residual blocks of two
    separable sub-blocks (kernels 13, 15, 17), epilogue (kernel 29 dilated 2, then 1x1), a 1x1 classifier
    and global average pooling over time.

    Example:
        >>> MatchboxNet(n_classes=12)(torch.zeros(2, 40, 101)).shape
        torch.Size([2, 12])
    """

    KERNELS = (13, 15, 17)

    def __init__(self, n_classes: int, n_mels: int = 40, width: float = 1.0, repeats: int = 2) -> None:
        super().__init__()
        _check_head(n_classes, width)
        wide, ch = max(1, round(128 * width)), max(1, round(64 * width))
        self.prologue = nn.Sequential(*_separable(n_mels, wide, 11), nn.ReLU(inplace=True))
        blocks, in_ch = [], wide
        for k in self.KERNELS:
            blocks.append(MatchboxBlock(in_ch, ch, k, repeats))
            in_ch = ch
        self.blocks = nn.Sequential(*blocks)
        self.epilogue = nn.Sequential(
            *_separable(ch, wide, 29, dilation=2), nn.ReLU(inplace=True),
            nn.Conv1d(wide, wide, 1, bias=False), nn.BatchNorm1d(wide), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.classifier = nn.Conv1d(wide, n_classes, 1)

    def forward(self, spec: Tensor) -> Tensor:
        """Logits ``(batch, n_classes)`` for features ``(batch, n_mels, frames)``."""
        return self.classifier(self.epilogue(self.blocks(self.prologue(spec)))).mean(dim=-1)


def _check_head(n_classes: int, width: float) -> None:
    if n_classes < 2:
        raise ValueError(f"n_classes ({n_classes}) must be >= 2")
    if width <= 0:
        raise ValueError(f"width ({width}) must be > 0, e.g. 1")


ARCHITECTURES = {"matchboxnet": MatchboxNet, "bcresnet": BCResNet}


class KeywordSpotter(nn.Module):
    """Features -> logits: the ``config.arch`` network on log-Mel features ``(batch, n_mels, frames)``.

    The features come from ``make_frontend(config)`` (see :func:`make_frontend`); the model holds no
    frontend, so nothing runs between the two except what the caller puts there (e.g. SpecAugment).

    Example:
        >>> config = ModelConfig(n_classes=12)
        >>> spec, frames = make_frontend(config)(torch.zeros(2, 1, 16000))
        >>> KeywordSpotter(config)(spec).shape
        torch.Size([2, 12])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.arch == "bcresnet":
            self.net: nn.Module = BCResNet(config.n_classes, config.n_mels, config.width, config.sub_bands)
        else:
            self.net = MatchboxNet(config.n_classes, config.n_mels, config.width)

    def forward(self, features: Tensor) -> Tensor:
        """Logits ``(batch, n_classes)`` for features ``(batch, n_mels, frames)``."""
        return self.net(features)


def make_frontend(config: ModelConfig) -> LogMel:
    """The log-Mel frontend whose features a :class:`KeywordSpotter` with ``config`` takes.

    Example:
        >>> make_frontend(ModelConfig(n_classes=12)).n_mels
        40
    """
    return LogMel(config.sample_rate, config.n_mels, config.win_ms, config.hop_ms)


def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """(Re-)initialise every conv/linear weight from ``generator`` (Kaiming normal, fan-in).

    Biases are zeroed, BatchNorm scales set to 1 and shifts to 0, so the model depends only on the
    generator's state. Returns ``model``.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
