"""``audionoise make-data``: build the synthetic keyword-spotting set and the evaluation noises, or prepare the
real Speech Commands v2 from its official tarball (``--speech-commands DIR``, :mod:`audionoise.corpora.speech_commands`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from audionoise.cli._common import HelpFormatter, UsageError, add_quiet, existing_file
from audionoise.corpora.speech_commands import FOLDER, OFFICIAL_NAME, OFFICIAL_URL, V2_WORDS


def register(subparsers) -> None:
    """Add the ``make-data`` parser to ``subparsers``."""
    p = subparsers.add_parser(
        "make-data",
        help="generate the synthetic keyword-spotting data set ([kws] extra), or prepare the real Speech Commands v2",
        description=(
            "Speak 20 Speech Commands words with 40 synthetic espeak-ng speakers (split by speaker "
            "into training/validation/testing) and synthesise held-out evaluation noises: OUT/kws (Speech "
            "Commands layout) and OUT/noise_eval. Also builds the default training-noise bank (9 families "
            "of procedural noise, 100 clips of 6 s) in --noise-bank, which the trainer's default augmentation "
            "uses when a data set has no _background_noise_ folder. Deterministic from --seed; skipped when "
            "already built with the same version and seed.\n\n"
            "With --speech-commands DIR it instead prepares the real Google Speech Commands v2 (35 words, "
            f"105,829 clips) as DIR/{FOLDER} from the official {OFFICIAL_NAME} (2.4 GB): --archive PATH "
            "(a local copy) or --download; SHA-256 checked, extracted safely, layout checked, skipped when "
            "DIR already holds it."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--out", default="data/generated", help="output root folder (synthetic set)")
    p.add_argument("--seed", type=int, default=0, help="seed of speakers, utterances and noises (synthetic set)")
    p.add_argument("--noise-bank", metavar="DIR",
                   help="folder of the training-noise bank (default: the user cache, where the trainer looks: "
                        "$AUDIONOISE_NOISE_BANK or ~/.cache/audionoise/training_noise/v<version>-seed<seed>)")
    p.add_argument("--no-noise-bank", action="store_true", help="do not build the training-noise bank")
    p.add_argument("--force", action="store_true",
                   help="rebuild even if OUT (or the --speech-commands folder) is up to date")
    add_quiet(p)
    sc = p.add_argument_group("real Speech Commands v2 (instead of the synthetic set)")
    sc.add_argument("--speech-commands", metavar="DIR",
                    help=f"prepare DIR/{FOLDER} (then: audionoise train --data DIR/{FOLDER} --labels v2-12)")
    source = sc.add_mutually_exclusive_group()
    source.add_argument("--archive", metavar="PATH", help=f"a local {OFFICIAL_NAME}")
    source.add_argument("--download", action="store_true",
                        help="fetch the tarball from --url into DIR first (2.4 GB; removed after extraction "
                             "unless --keep-archive)")
    sc.add_argument("--url", default=OFFICIAL_URL, help="where --download fetches from")
    sc.add_argument("--sha256", default="auto", metavar="HEX|auto|skip",
                    help=f"expected SHA-256 of the tarball; 'auto' checks the published digest of the official "
                         f"tarball when the file is named {OFFICIAL_NAME}, 'skip' checks nothing")
    sc.add_argument("--keep-archive", action="store_true", help="with --download: keep the tarball in DIR")
    p.set_defaults(run=run)


def _summary(root: Path) -> str:
    path = root / "summary.json"
    if not path.is_file():
        return ""
    s = json.loads(path.read_text())
    speakers = ", ".join(f"{k} {v}" for k, v in s["speakers"].items())
    clips = ", ".join(f"{k} {v}" for k, v in s["clips"].items())
    return (
        f"speakers: {speakers}\n"
        f"clips:    {clips} (total {sum(s['clips'].values())})\n"
        f"evaluation noises ({len(s['eval_noises'])}): {', '.join(s['eval_noises'])}\n"
        f"size:     {s['bytes'] / 1e6:.1f} MB, generated in {s['seconds']:.1f} s"
    )


def _speech_commands(args) -> int:
    from audionoise.corpora.speech_commands import prepare_speech_commands

    for flag, given in (("--url", args.url != OFFICIAL_URL), ("--keep-archive", args.keep_archive)):
        if given and not args.download:
            raise UsageError(f"{flag} is only used with --download")
    archive = str(existing_file(args.archive, "--archive")) if args.archive is not None else None
    r = prepare_speech_commands(args.speech_commands, archive=archive,
                                download_from=args.url if args.download else None, sha256=args.sha256,
                                force=args.force, keep_archive=args.keep_archive, progress=not args.quiet)
    root = r["root"]
    if r["status"] == "ready":
        print(f"{root} is already prepared (from {r['source']}); nothing to do (--force extracts it again)")
    elif r["status"] == "found":
        print(f"{root} is already there (not made by make-data; its layout checked); nothing to do")
    else:
        check = "SHA-256 verified" if r["verified"] else "SHA-256 not checked"
        print(f"prepared {root} from {r['source']} ({check}) in {r['seconds']:.1f} s")
        if r.get("archive"):
            print(f"kept the archive: {r['archive']}")
    words, clips = r["words"], r["clips"]
    full = set(words) >= set(V2_WORDS)
    print(f"words:      {len(words)}" + (" (the v0.02 vocabulary)" if full else
                                         f" (not the full v0.02 vocabulary of 35): {', '.join(words)}"))
    print(f"clips:      training {clips['training']}, validation {clips['validation']}, testing "
          f"{clips['testing']} (total {sum(clips.values())})")
    print(f"background: {len(r['background'])} recordings in _background_noise_")
    print(f"next:       audionoise train --data {root} --out runs/sc_v2_12 --labels {'v2-12' if full else 'all'}")
    return 0


def run(args) -> int:
    """Build (or find up to date) the data under ``args.out``; returns 0 on success."""
    if args.speech_commands is not None:
        return _speech_commands(args)
    for flag, given in (("--archive", args.archive is not None), ("--download", args.download),
                        ("--url", args.url != OFFICIAL_URL), ("--sha256", args.sha256 != "auto"),
                        ("--keep-archive", args.keep_archive)):
        if given:
            raise UsageError(f"{flag} needs --speech-commands DIR (the folder to prepare the real set in)")
    from audionoise.synth import bundled_data_current, ensure_bundled_data

    root = Path(args.out)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--out {str(root)!r} is a file; pass a folder")
    if not args.force and bundled_data_current(root, args.seed):
        print(f"{root} is up to date (seed {args.seed}); use --force to rebuild")
    else:
        start = time.perf_counter()
        ensure_bundled_data(root, seed=args.seed, force=args.force, progress=not args.quiet)
        print(f"wrote {root / 'kws'} and {root / 'noise_eval'} in {time.perf_counter() - start:.1f} s")
    summary = _summary(root)
    if summary:
        print(summary)
    if not args.no_noise_bank:
        _noise_bank(args)
    return 0


def _noise_bank(args) -> None:
    from audionoise.synth.noise_bank import default_bank_dir, ensure_training_noise, training_noise_current

    folder = Path(args.noise_bank) if args.noise_bank is not None else default_bank_dir(args.seed)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--noise-bank {str(folder)!r} is a file; pass a folder")
    if not args.force and training_noise_current(folder, args.seed):
        print(f"training-noise bank {folder} is up to date")
    else:
        ensure_training_noise(folder, seed=args.seed, force=args.force)
    info = json.loads((folder / "summary.json").read_text())
    print(f"training noises: {', '.join(f'{k} {v}' for k, v in info['families'].items())} clips "
          f"({info['seconds_of_audio'] / 60:.0f} min, {info['bytes'] / 1e6:.1f} MB, built in {info['seconds']:.1f} s) "
          f"in {folder}")
    if args.noise_bank is not None:
        print(f"train with it: audionoise train ... --noise-dir {folder}")
