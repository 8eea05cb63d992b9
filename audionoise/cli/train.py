"""``audionoise train``: parse options into a :class:`~audionoise.kws.train.TrainConfig` and train.

Precedence: TrainConfig defaults < ``--config TRAIN.toml`` < command-line options. Run it with ``torchrun
--nproc_per_node=N -m audionoise train ...`` for distributed data-parallel training.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from pathlib import Path

from audionoise.cli._common import HelpFormatter, UsageError, add_quiet, existing_dir, existing_file


@functools.cache
def _config_defaults() -> dict:
    # kws/config.py is torch-free, but importing it through its package would import torch (audionoise.kws imports
    # the trainer): load the file alone, so `train --help` takes ~0.1 s instead of ~2 s
    import importlib.util

    spec = importlib.util.spec_from_file_location("_audionoise_train_config",
                                                  Path(__file__).parent.parent / "kws" / "config.py")  # in the package
    config = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = config  # dataclasses look their module up there
    try:
        spec.loader.exec_module(config)
    finally:
        del sys.modules[spec.name]
    defaults = {f.name: f.default for f in dataclasses.fields(config.TrainConfig)}
    clean, ramp, share = config.AUTO_CURRICULUM
    # the curriculum fields' 0.0 means "not given": show what --curriculum auto resolves them to
    unless = "; 0 with --curriculum off, --augment none, or another of these three options given"
    defaults.update(clean_epochs=f"{clean:g} x --epochs{unless}", noise_ramp_epochs=f"{ramp:g} x --epochs{unless}",
                    clean_fraction=f"{share:g}{unless}")
    return defaults


class _TrainHelpFormatter(HelpFormatter):
    """Options default to "not given" (so --config can set them); their help shows the resolved default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = _config_defaults().get(action.dest)
        if action.nargs == 0 or default in (None, "") or "(default" in text:
            return text
        shown = " ".join(default) if isinstance(default, list) else default
        return f"{text} (default: {shown})"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a keyword-spotting model with on-the-fly noise augmentation",
        description="Train a keyword spotter (log-Mel + MatchboxNet or BC-ResNet) on a Speech-Commands-layout\n"
        "folder. Options left out come from --config, then from the TrainConfig defaults shown below\n"
        "(all of them: --print-config).",
        formatter_class=_TrainHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--data", help="Speech-Commands-layout folder (required)")
    p.add_argument("--out", help="run folder: checkpoints, train.log, metrics.json (required)")
    p.add_argument("--config", help="TRAIN.toml with TrainConfig fields")
    p.add_argument("--labels", nargs="+", help="'v2-12', 'all', or the words to classify")
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--batch-size", type=int, help="clips per step (per process)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--arch", choices=["matchboxnet", "bcresnet"], help="network architecture")
    p.add_argument("--width", type=float, help="channel multiplier of the network")
    p.add_argument("--augment", help="'default' (time shift, background noise, short foreground events, white noise, "
                   "spectrogram warps and masks; docs/kws.md), 'none', or a pipeline config (.toml, .yaml, .json)")
    p.add_argument("--noise-dir", help="noise folder of the default augmentation (background and foreground events; "
                   "default: DATA/_background_noise_, else the generated training-noise bank of `audionoise "
                   "make-data`, else the 4 noise clips in the package)")
    p.add_argument("--seed", type=int, help="seed of everything random in the run")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--stop-after", type=int, help="stop this invocation after N epochs (resume later)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, dest="num_workers", help="DataLoader worker processes")
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    p.add_argument("--preload", action="store_true", help="decode all clips into memory first")
    p.add_argument("--no-amp", action="store_false", dest="amp", help="disable mixed precision")
    add_quiet(p)
    p.add_argument("--no-progress", action="store_true", dest="quiet", help="same as --quiet")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config as TOML and exit (--data/--out not needed)")
    p.add_argument("--clean-epochs", type=float, help="first epochs trained without waveform noise (curriculum)")
    p.add_argument("--clean-fraction", type=float, help="share of every batch kept clean after the curriculum")
    p.add_argument("--noise-ramp-epochs", type=float,
                   help="epochs over which the clean share falls from 1 to --clean-fraction")
    p.add_argument("--curriculum", choices=["auto", "off"],
                   help="auto: with augmentation and none of the three options above, the first quarter of the "
                        "epochs clean, the noise share widening over the second, then a quarter of every batch clean; "
                        "off: noise on every batch from the start (default: auto)")
    p.add_argument("--select-on", choices=["clean", "clean+noisy"],
                   help="best.pt by clean validation accuracy, or by the mean of clean and noisy (--val-snr)")
    p.add_argument("--val-snr", type=float, dest="val_snr_db", help="SNR (dB) of the noisy validation pass")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out unreadable audio files (all listed in RUN_DIR/bad_files.txt) instead of stopping "
                   "with exit status 2")
    p.set_defaults(run=run)


def _labels(values: list[str] | None):
    if values is None:
        return None
    words = [w for v in values for w in v.split(",") if w]
    if len(words) == 1 and words[0] in ("v2-12", "all"):
        return words[0]
    return words


def _file_keys(args: argparse.Namespace) -> set[str]:
    import tomllib

    if getattr(args, "config", None) is None:
        return set()
    try:
        with open(args.config, "rb") as fh:
            return set(tomllib.load(fh))
    except (OSError, tomllib.TOMLDecodeError, RecursionError):
        return set()  # load_train_config reports it


def _check_run_paths(cfg) -> None:
    existing_dir(cfg.data, "--data")
    if cfg.augment not in ("default", "none"):
        existing_file(cfg.augment, "--augment")
    if cfg.noise_dir is not None:
        existing_dir(cfg.noise_dir, "--noise-dir")
    if Path(cfg.out).exists() and not Path(cfg.out).is_dir():
        raise UsageError(f"--out {cfg.out!r} is a file; pass a run folder")


def run(args: argparse.Namespace) -> int:
    skip = ("config", "print_config", "run", "command", "debug", "quiet")
    overrides = {k: v for k, v in vars(args).items() if k not in skip}
    if getattr(args, "quiet", False):
        overrides["progress"] = False
    if "labels" in overrides:
        overrides["labels"] = _labels(overrides["labels"])
    if getattr(args, "config", None) is not None:
        existing_file(args.config, "--config")
    from audionoise.kws.train import load_train_config, train

    if getattr(args, "print_config", False):
        import tomli_w

        # data/out are not needed to print a config: placeholders for those neither given nor in --config
        placeholders = {k: "-" for k in ("data", "out") if k not in overrides and k not in _file_keys(args)}
        cfg = load_train_config(getattr(args, "config", None), **placeholders, **overrides)
        shown = {k: v for k, v in cfg.to_dict().items() if v is not None and v != placeholders.get(k)}
        print(tomli_w.dumps(shown), end="")
        return 0
    cfg = load_train_config(getattr(args, "config", None), **overrides)
    _check_run_paths(cfg)
    from audionoise.corpora.scan import BadFilesError

    try:
        summary = train(cfg)
    except BadFilesError as exc:
        print(f"audionoise train: error: {exc}", file=sys.stderr)
        return 2
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        keep = ("run_dir", "params", "epochs_done", "best_epoch", "best_val_acc", "last_val_acc", "aug_fraction")
        print(json.dumps({k: summary[k] for k in keep}, indent=2))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
