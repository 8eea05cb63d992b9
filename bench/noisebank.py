"""Benchmark: background noise at corpus scale (a 1-hour noise corpus, variable-length batches, DataLoader workers).

The run writes a synthetic corpus into a temporary folder (default 60 files x 60 s, the rates cycling through
16, 44.1 and 48 kHz, 16-bit WAV written with ``audionoise.io.save``; removed afterwards) and measures, each phase
in a fresh process so that its memory figures are its own:

1. **first build**: decode, resample to 16 kHz, make loopable, stream into the on-disk cache (s);
2. **cached build**: map the cached bank (s);
3. **memory**: VmRSS of the process before the bank (after running the same batches through a bank-less
   ``WhiteNoise``, so the baseline already holds the heap that batch buffers of these shapes keep), after mapping it
   and after using it for every timed batch,
   split into private (RssAnon) and file-backed (RssFile: pages of the memory-mapped bank, shared with every
   process that maps the file and reclaimable by the kernel), and the bank mapping's own Rss/Pss;
4. **per batch**, batch 16 up to 4 s: *fixed* (16 x 4 s, no padding) against *variable* (a different padded
   length U(1, 4) s every batch, valid lengths U(25 %, 100 %) of it): ms per batch, ns per padded and per valid
   sample; windows alone, and the previous implementation (a looped copy of the whole bank built per window
   length) for comparison;
5. **per example** 1 x 1 s (us per call), the DataLoader-worker pattern;
6. **DataLoader**, 2 workers (fork), per-item augmentation of 2 s clips: VmRSS / RssAnon / RssFile / Pss of each
   worker, read from ``/proc/<pid>/status`` and ``/proc/<pid>/smaps_rollup`` while the workers are alive.

Times are minima and medians over interleaved rounds (other processes on a shared machine only add time); compare
ratios from one run. Linux only (``/proc``). Not part of pytest.

Usage::

    python bench/noisebank.py                    # 1-hour corpus, CPU, writes a section of docs/benchmarks.md
    python bench/noisebank.py --minutes 10 --no-write
    python bench/noisebank.py --device cuda      # timings with the bank on the GPU (memory rows stay CPU)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(1, str(REPO))

SR = 16000
RATES = (16000, 44100, 48000)
BATCH, MAX_S, MIN_S = 16, 4.0, 1.0


# ------------------------------------------------------------------------------------------------ /proc readers
def status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def rollup(pid: int | str = "self") -> dict[str, int]:
    """Pss (proportional set size: shared pages divided among their sharers) total/anon/file, and Private_Dirty
    (pages this process alone has written: its own memory), in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Pss_Anon", "Pss_File", "Private_Dirty"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def mapping(path: str, pid: int | str = "self") -> dict[str, int]:
    """Rss, Pss and Private_Dirty (pages copied on write) of the mappings of ``path`` in a process, in bytes."""
    out, inside = {"Rss": 0, "Pss": 0, "Private_Dirty": 0}, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if "-" in line.split(" ", 1)[0] and not line.split(" ", 1)[0].endswith(":"):
            inside = line.rstrip().endswith(path)
        elif inside:
            key, _, rest = line.partition(":")
            if key in out:
                out[key] += int(rest.split()[0]) * 1024
    return out


# ------------------------------------------------------------------------------------------------ the corpus
def make_corpus(root: Path, files: int, seconds: float) -> dict:
    """``files`` clips of ``seconds`` each, 16-bit WAV, rates cycling through :data:`RATES`."""
    import torch

    from audionoise import io as aio

    g = torch.Generator().manual_seed(0)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    for i in range(files):
        rate = RATES[i % len(RATES)]
        n = int(seconds * rate)
        noise = torch.cumsum(torch.randn(n, generator=g), 0)  # brown-ish, then high-passed a little
        noise = noise - torch.nn.functional.avg_pool1d(noise[None, None], 101, 1, 50, count_include_pad=False)[0, 0]
        aio.save(root / f"noise_{i:03d}_{rate}.wav", (0.3 * noise / noise.abs().max())[None], rate)
    return {"files": files, "seconds": files * seconds, "bytes": sum(p.stat().st_size for p in root.iterdir()),
            "write_s": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------------ phases
def phase_build(args) -> dict:
    """A first build (nothing cached) or a cached build, timed from a fresh process."""
    t0 = time.perf_counter()
    import torch  # noqa: F401 - imports are not part of the build time

    import audionoise as an

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    bank = an.NoiseBank.from_source(args.corpus, SR, cache_dir=args.cache, progress=False)
    return {"build_s": time.perf_counter() - t0, "import_s": t_import, "clips": len(bank),
            "samples": int(bank.data.numel()), "cache_file": bank.cache_file}


def _batches(rounds_seed: int, count: int, variable: bool):
    import torch

    g = torch.Generator().manual_seed(rounds_seed)
    out = []
    for _ in range(count):
        t = int(SR * (MIN_S + (MAX_S - MIN_S) * float(torch.rand(1, generator=g)))) if variable else int(SR * MAX_S)
        x = 0.1 * torch.randn(BATCH, t, generator=g)
        lengths = None
        if variable:
            lengths = (t * (0.25 + 0.75 * torch.rand(BATCH, generator=g))).long().clamp(1, t)
            lengths[0] = t
        out.append((x, lengths))
    return out


def _old_windows(bank, clip, offset, length):
    """The previous implementation: each clip looped to clip + length - 1 samples, all concatenated (per length)."""
    import torch

    parts, ext_starts, pos = [], [], 0
    for s, n in zip(bank.starts.tolist(), bank.lengths.tolist()):
        need = n + length - 1
        parts.append(bank.data[s:s + n].repeat(math.ceil(need / n))[:need])
        ext_starts.append(pos)
        pos += need
    ext = torch.cat(parts)
    first = torch.tensor(ext_starts)[clip] + offset
    return ext.unfold(0, length, 1).index_select(0, first)


def _time(fn, inner: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def phase_use(args) -> dict:
    """Map the cached bank, time fixed/variable batches and one example, measure memory; then the DataLoader."""
    import torch

    import audionoise as an

    from audionoise.runtime import keep_freed_memory

    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as `audionoise train`/`augment` do: batch buffers stay in the heap
    device = torch.device(args.device)
    fixed, variable = _batches(1, args.batches, False), _batches(2, args.batches, True)
    unpadded = [(x, None) for x, _ in variable]  # the same shapes, every sample valid
    torch.randn(1000) @ torch.randn(1000)  # warm up the allocator and kernels before the baseline
    # control: the same batches through a bank-less injector first, so the baseline already holds the heap that
    # batch buffers of these shapes keep (keep_freed_memory): what is added after it is the bank's doing
    control = an.WhiteNoise(0.0, 20.0)
    gc_ = torch.Generator().manual_seed(1)
    for x, lengths in fixed + unpadded + variable:
        control(x, lengths, gc_)
    base = status()
    t0 = time.perf_counter()
    bank = an.NoiseBank.from_source(args.corpus, SR, cache_dir=args.cache, progress=False)
    cached_s = time.perf_counter() - t0
    bank_bytes = bank.data.numel() * bank.data.element_size()
    mapped = status()
    aug = an.BackgroundNoise(bank, 0.0, 20.0)
    if device.type != "cpu":
        aug = aug.to(device)
    cases = [("fixed", fixed), ("unpadded", unpadded), ("variable", variable)]
    series = {k: [] for name, _ in cases for k in (name, f"{name} windows")}
    g = torch.Generator(device=device).manual_seed(0)
    for rnd in range(args.rounds):
        for name, batches in cases[rnd % 3:] + cases[:rnd % 3]:  # the order rotates from round to round
            for x, lengths in batches:
                x = x.to(device)
                lengths = None if lengths is None else lengths.to(device)
                params = aug.sample(x, lengths, g)

                def call():
                    aug(x, lengths, g)
                    _sync(device)

                def windows():
                    aug.bank.windows(params.clip, params.offset, x.shape[-1])
                    _sync(device)

                dt = _time(call)
                dw = _time(windows)
                if rnd:  # round 0 is the warm-up (first touch of the pages)
                    series[name].append((dt, x.numel(), int(lengths.sum()) if lengths is not None else x.numel()))
                    series[f"{name} windows"].append((dw, x.numel(), 0))
    used = status()
    bank_map = mapping(bank.cache_file) if bank.cache_file else {"Rss": 0, "Pss": 0}
    x1 = torch.randn(1, SR, device=device)
    per_example = []
    for _ in range(args.rounds * 5):
        per_example.append(_time(lambda: (aug(x1, generator=g), _sync(device)), inner=200))
    old = []
    if device.type == "cpu":
        for x, _ in variable[:args.old_batches]:
            p = aug.sample(x, None, g)
            old.append((_time(lambda: _old_windows(bank, p.clip, p.offset, x.shape[-1])), x.numel(), 0))
    result = {"cached_s": cached_s, "bank_bytes": bank_bytes, "clips": len(bank), "rss": {
        "base": base, "mapped": mapped, "used": used, "bank_mapping": bank_map, "rollup": rollup()},
        "series": series, "old_variable_windows": old, "per_example_s": per_example,
        "device": str(device), "threads": torch.get_num_threads()}
    return result


def phase_loader(args) -> dict:
    """A fresh process maps the cached bank and reads a DataLoader whose workers augment item by item."""
    import torch

    import audionoise as an
    from audionoise.runtime import keep_freed_memory

    torch.set_num_threads(args.threads)
    keep_freed_memory()
    base = {**status(), **rollup()}
    bank = an.NoiseBank.from_source(args.corpus, SR, cache_dir=args.cache, progress=False)
    return {**_loader(an.BackgroundNoise(bank, 0.0, 20.0), bank.cache_file, args), "main_base": base}


class _Items:
    """Per-item augmentation in the workers: item i is a 2 s clip mixed with background noise (seeded by i)."""

    def __init__(self, aug, n: int) -> None:
        self.aug, self.n = aug, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        import torch

        g = torch.Generator().manual_seed(i)
        x = 0.1 * torch.randn(2 * SR, generator=g)
        return self.aug(x, generator=g), os.getpid()


def _loader(aug, cache_file: str | None, args) -> dict:
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(_Items(aug, args.loader_items), batch_size=BATCH, num_workers=args.workers,
                        multiprocessing_context="fork", persistent_workers=True)
    it = iter(loader)
    pids, t0 = set(), time.perf_counter()
    for _ in range(len(loader)):
        y, pid = next(it)
        pids.update(pid.tolist())
    seconds = time.perf_counter() - t0
    workers = {}
    for pid in sorted(pids):  # still alive: persistent workers
        workers[pid] = {**status(pid), **rollup(pid), "bank": mapping(cache_file, pid) if cache_file else {}}
    del it, loader
    return {"items": args.loader_items, "seconds": seconds, "workers": workers,
            "main": {**status(), **rollup(), "bank": mapping(cache_file) if cache_file else {}}}


# ------------------------------------------------------------------------------------------------ report
def _mb(b: float) -> str:
    return f"{b / 2 ** 20:.1f} MB"


def _stat(values: list[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def render(corpus: dict, first: dict, use: dict, loader: dict | None, machine: dict) -> str:
    bank_b = use["bank_bytes"]
    base, mapped, used = (use["rss"][k] for k in ("base", "mapped", "used"))
    lines = ["## Background noise at corpus scale (`bench/noisebank.py`)", "",
             f"A synthetic noise corpus of {corpus['files']} files, {corpus['seconds'] / 3600:.2f} h in all "
             f"({_mb(corpus['bytes'])} of 16-bit WAV at 16 / 44.1 / 48 kHz), resampled to 16 kHz: a bank of "
             f"{use['clips']} clips, {_mb(bank_b)} of float32. Device: {use['device']}, {use['threads']} torch "
             f"thread(s). Measured on a shared machine (other jobs were running; `load` below): compare the ratios, "
             f"absolute times move up to 2x between runs.", "",
             "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in machine.items()] + ["",
             "### Build and memory", "", "| measure | value |", "|---|---|",
             f"| first build (decode + resample + loopable + write the cache) | {first['build_s']:.2f} s |",
             f"| cached build (map the `.npy`) | {use['cached_s'] * 1000:.1f} ms "
             f"({use['cached_s'] / first['build_s'] * 100:.2f} % of the first build) |",
             f"| VmRSS added by mapping the bank | {_mb(mapped['VmRSS'] - base['VmRSS'])} |",
             f"| VmRSS added after every timed batch below | {_mb(used['VmRSS'] - base['VmRSS'])} "
             f"({(used['VmRSS'] - base['VmRSS']) / bank_b * 100:.0f} % of the bank) |",
             f"| ... of which private (RssAnon: batches, allocator) | {_mb(used['RssAnon'] - base['RssAnon'])} "
             f"({(used['RssAnon'] - base['RssAnon']) / bank_b * 100:.1f} % of the bank) |",
             f"| ... of which file-backed (RssFile: mapped pages of the bank, shared, reclaimable) | "
             f"{_mb(used['RssFile'] - base['RssFile'])} |",
             f"| bank mapping resident in this process (pages touched) | {_mb(use['rss']['bank_mapping']['Rss'])} "
             f"({use['rss']['bank_mapping']['Rss'] / bank_b * 100:.0f} % of the bank) |"]
    rows = ["", f"### Per batch ({BATCH} examples up to {MAX_S:g} s), ms per batch and ns per sample", "",
            "| case | ms per batch (min / median) | ns per padded sample (min / median) | "
            "ns per valid sample (median) |", "|---|---|---|---|"]
    per = {}
    for name in ("fixed", "unpadded", "variable", "fixed windows", "unpadded windows", "variable windows"):
        s = use["series"][name]
        ms = _stat([d * 1e3 for d, _, _ in s])
        ns = _stat([d * 1e9 / n for d, n, _ in s])
        valid = statistics.median([d * 1e9 / v for d, _, v in s]) if s and s[0][2] else None
        per[name] = ns
        label = {"fixed": f"fixed: {BATCH} x {MAX_S:g} s, BackgroundNoise",
                 "unpadded": f"a new length U({MIN_S:g}, {MAX_S:g}) s every batch, no padding, BackgroundNoise",
                 "variable": f"variable: a new padded length U({MIN_S:g}, {MAX_S:g}) s every batch, `lengths` "
                             f"U(25-100 %) of it, BackgroundNoise",
                 "fixed windows": "fixed: `bank.windows` alone", "unpadded windows": "new length: `bank.windows` alone",
                 "variable windows": "variable: `bank.windows` alone"}
        rows.append(f"| {label[name]} | {ms[0]:.2f} / {ms[1]:.2f} | {ns[0]:.2f} / {ns[1]:.2f} | "
                    f"{'' if valid is None else f'{valid:.2f}'} |")
    if use["old_variable_windows"]:
        s = use["old_variable_windows"]
        ms, ns = _stat([d * 1e3 for d, _, _ in s]), _stat([d * 1e9 / n for d, n, _ in s])
        rows.append(f"| variable: previous windows (looped copy of the bank per length), {len(s)} batches | "
                    f"{ms[0]:.1f} / {ms[1]:.1f} | {ns[0]:.1f} / {ns[1]:.1f} | |")
    def ratio(a: str, b: str) -> str:
        return f"{per[a][0] / per[b][0]:.2f}x (minima), {per[a][1] / per[b][1]:.2f}x (medians)"

    rows += ["", f"Per padded sample: a new length every batch / fixed {ratio('unpadded', 'fixed')}; variable / "
             f"fixed {ratio('variable', 'fixed')}; variable / the same shapes unpadded (the cost of `lengths`) "
             f"{ratio('variable', 'unpadded')}; windows alone, variable / fixed "
             f"{ratio('variable windows', 'fixed windows')}."]
    pe = _stat([d * 1e6 for d in use["per_example_s"]])
    rows += ["", f"Per example (1 x 1 s, `BackgroundNoise(bank)(x, generator=g)`): {pe[0]:.1f} us (min), "
             f"{pe[1]:.1f} us (median) per call."]
    if loader:
        rows += ["", f"### DataLoader, {len(loader['workers'])} workers (fork), per-item augmentation of "
                 f"{loader['items']} clips of 2 s ({loader['seconds']:.2f} s)", "",
                 "A fresh process maps the bank and starts the workers. Private_Dirty = pages only this process "
                 "has written (what a worker really costs: RssAnon also counts the parent's pages it shares after "
                 "the fork); Pss = the process's share of every page it maps.", "",
                 "| process | VmRSS | RssAnon | RssFile | Private_Dirty | Pss | bank pages (Rss / Pss / copied) |",
                 "|---|---|---|---|---|---|---|"]
        procs = [("main, before the bank", {**loader["main_base"], "bank": {}}), ("main, after", loader["main"])]
        procs += [(f"worker {i + 1}", w) for i, w in enumerate(loader["workers"].values())]
        for name, w in procs:
            bank = w.get("bank") or {}
            rows.append(f"| {name} | {_mb(w['VmRSS'])} | {_mb(w['RssAnon'])} | {_mb(w['RssFile'])} | "
                        f"{_mb(w['Private_Dirty'])} | {_mb(w['Pss'])} | "
                        f"{_mb(bank.get('Rss', 0))} / {_mb(bank.get('Pss', 0))} / {_mb(bank.get('Private_Dirty', 0))} |"
                        if bank else
                        f"| {name} | {_mb(w['VmRSS'])} | {_mb(w['RssAnon'])} | {_mb(w['RssFile'])} | "
                        f"{_mb(w['Private_Dirty'])} | {_mb(w['Pss'])} | - |")
        rows += ["", "Every process maps the same cache file: its bank pages are page-cache pages, counted in the "
                 "VmRSS/RssFile of each process that touched them but divided among those processes in Pss; none "
                 "is copied (`copied` = dirty private pages of the mapping). A worker's own Private_Dirty is the "
                 "interpreter's copy-on-write pages and its batch buffers."]
    return "\n".join(lines + rows) + "\n"


def update_doc(path: Path, key: str, section: str) -> None:
    """Replace (or append) this benchmark's section of the Markdown file between its markers."""
    begin, end = f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{section}{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new, encoding="utf-8")


def _run_phase(phase: str, args, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--corpus", str(args.corpus), "--cache", str(args.cache),
           "--device", args.device, "--threads", str(args.threads), "--batches", str(args.batches),
           "--rounds", str(args.rounds), "--workers", str(args.workers), "--loader-items", str(args.loader_items),
           "--old-batches", str(args.old_batches)] + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="total duration of the synthetic corpus")
    ap.add_argument("--files", type=int, default=60, help="number of files in the corpus")
    ap.add_argument("--batches", type=int, default=24, help="batches per series and round")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (the first is a warm-up)")
    ap.add_argument("--old-batches", type=int, default=3, help="variable batches timed with the previous windows")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers (0: skip that case)")
    ap.add_argument("--loader-items", type=int, default=256, help="items the DataLoader case reads")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch.set_num_threads (1: robust to other jobs on a shared machine)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-write", action="store_true", help="print only (default: update docs/benchmarks.md)")
    ap.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--phase", choices=["first", "cached", "use", "loader"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        run = {"first": phase_build, "cached": phase_build, "use": phase_use, "loader": phase_loader}[args.phase]
        print(json.dumps(run(args)))
        return 0
    from timing import machine_description

    with tempfile.TemporaryDirectory(prefix="audionoise-noisebank-") as tmp:
        args.corpus, args.cache = Path(tmp) / "corpus", Path(tmp) / "cache"
        load0 = os.getloadavg()[0]
        print(f"writing a {args.minutes:g}-minute corpus ({args.files} files) to {tmp} ...", file=sys.stderr)
        corpus = make_corpus(args.corpus, args.files, args.minutes * 60 / args.files)
        print("first build ...", file=sys.stderr)
        first = _run_phase("first", args, [])
        for f in args.cache.iterdir():  # written back now, so that no page of the bank still counts as dirty
            fd = os.open(f, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        cached = _run_phase("cached", args, [])
        print("cached build, batches, memory, DataLoader ...", file=sys.stderr)
        use = _run_phase("use", args, [])
        loader = _run_phase("loader", args, []) if args.workers and args.device == "cpu" else None
        use["cached_s"] = min(use["cached_s"], cached["build_s"])
        machine = machine_description(args.device)
        machine["torch threads"] = str(use["threads"])
        machine["load (1 min) at start / end"] = f"{load0:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    section = render(corpus, first, use, loader, machine)
    print(section)
    if not args.no_write:
        update_doc(args.output, f"noisebank-{torch_device_type(args.device)}", section)
    return 0


def torch_device_type(device: str) -> str:
    return device.split(":")[0]


if __name__ == "__main__":
    sys.exit(main())
