"""Property tests over hostile configs, manifests and WAV headers (hypothesis): no traceback (only the documented
user errors), no hang (a deadline per example), bounded memory (each example runs under an address-space limit of
1 GiB above what the process had), nothing written outside OUT."""

from __future__ import annotations

import contextlib
import io as io_module
import json
import os
import resource
import struct
import warnings

import numpy as np
import pytest
import soundfile as sf

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import audionoise as an  # noqa: E402
from audionoise.cli._common import is_user_error  # noqa: E402
from audionoise.corpora.manifests import BadLine, Row, read  # noqa: E402
from audionoise.io import AudioFileError, info, load  # noqa: E402
from audionoise.offline import OfflineUsageError, augment  # noqa: E402
from audionoise.transforms.base import REGISTRY  # noqa: E402
from offline_helpers import tree  # noqa: E402

FUZZ = settings(max_examples=60, deadline=10_000, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def memory_bound(extra: int = 1 << 30):
    """Limit this process's address space to what it maps now plus ``extra`` bytes (RLIMIT_AS, soft limit only,
    restored after): an input that makes the code allocate more fails with MemoryError instead of passing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    limit = vm + extra if hard == resource.RLIM_INFINITY else min(vm + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")

# ---------------------------------------------------------------------------------------------- configs
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                  st.text(max_size=12))
_value = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=20)
_FIELDS = ["min_snr_db", "max_snr_db", "p", "num_masks", "max_width_s", "max_width", "sample_rate", "num_sources",
           "num_events", "min_gain_db", "max_gain_db", "weights", "transforms", "transform", "noise", "rt60",
           "min_rate", "max_rate", "cutoff_hz", "order", "codecs", "fill", "crossfade_s", "max_clips"]
_entry = st.fixed_dictionaries({"name": st.sampled_from(sorted(REGISTRY) + ["Compose", "OneOf", "RandomApply",
                                                                            "Nope"])},
                               optional={f: _value for f in _FIELDS})
_config = st.fixed_dictionaries({"transforms": st.lists(_entry, max_size=3)},
                                optional={"sample_rate": st.one_of(st.integers(-5, 10**9), _value),
                                          "p": _value})


@FUZZ
@given(cfg=_config)
def test_any_config_builds_or_is_a_user_error(cfg):
    with memory_bound(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            an.load_pipeline(cfg)
        except Exception as exc:  # noqa: BLE001 - the property: every failure is a one-line user error
            assert is_user_error(exc), f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------------------------- manifests
_line = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.dictionaries(st.sampled_from(["audio_filepath", "offset", "duration", "text", "x"]), _value,
                    max_size=4).map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"audio_filepath": st.sampled_from(["a.wav", "../a.wav", "/etc/passwd", "sub/../a.wav",
                                                              "~/a.wav", "a.wav\x00", "", "C:\\a.wav"])},
                          optional={"offset": _leaf, "duration": _leaf}).map(lambda d: json.dumps(d).encode()),
)


@FUZZ
@given(lines=st.lists(_line, max_size=8))
def test_any_manifest_reads_as_rows_and_bad_lines(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("m")
    manifest = folder / "m.jsonl"
    manifest.write_bytes(b"\n".join(line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines) + b"\n")
    with memory_bound():
        rows = read(manifest)
    assert all(isinstance(r, (Row, BadLine)) for r in rows)


@settings(max_examples=25, deadline=30_000, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, min_size=1, max_size=5))
def test_augment_on_any_manifest_writes_only_under_out(tmp_path_factory, lines):
    root = tmp_path_factory.mktemp("job")
    (root / "in").mkdir()
    sf.write(root / "in" / "a.wav", (0.1 * np.sin(np.arange(800) / 3.0)).astype("float32"), 16000)
    manifest = root / "in" / "m.jsonl"
    manifest.write_bytes(b"\n".join(line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines) + b"\n")
    before = tree(root / "in")
    config = {"sample_rate": 16000, "transforms": [{"name": "WhiteNoise", "min_snr_db": 10.0, "max_snr_db": 20.0}]}
    with memory_bound():
        try:
            summary = augment(manifest, root / "out", config, progress=False)
        except OfflineUsageError:
            summary = None
    assert tree(root / "in") == before  # the input is never written to
    assert sorted(os.listdir(root)) == (["in", "out"] if summary is not None else ["in"])
    if summary is not None:
        assert summary.exit_status in (0, 1)
        written = {r["output"] if "output" in r else r["audio_filepath"]
                   for r in map(json.loads, (root / "out" / "manifest.jsonl").read_text().splitlines())}
        for rel in written:  # every output lies inside OUT
            assert os.path.realpath(root / "out" / rel).startswith(os.path.realpath(root / "out") + os.sep)


# ---------------------------------------------------------------------------------------------- WAV headers
def _wav_bytes() -> bytes:
    buf = io_module.BytesIO()
    sf.write(buf, (0.1 * np.sin(np.arange(4000) / 7.0)).astype("float32"), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


WAV = _wav_bytes()
_HEADER_FIELDS = {4: "<I", 16: "<I", 20: "<H", 22: "<H", 24: "<I", 28: "<I", 32: "<H", 34: "<H", 40: "<I"}


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(sorted(_HEADER_FIELDS)), st.integers(0, 2**32 - 1)), max_size=4),
       flips=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, len(WAV))))
def test_any_wav_header_loads_finite_or_is_an_audio_file_error(tmp_path_factory, edits, flips, cut):
    data = bytearray(WAV)
    for offset, value in edits:  # size, format, channels, rate, block align, bits, data size fields
        fmt = _HEADER_FIELDS[offset]
        data[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value % (1 << (8 * struct.calcsize(fmt))))
    for offset, byte in flips:
        data[offset] = byte
    if cut is not None:
        data = data[:cut]
    path = tmp_path_factory.mktemp("w") / "x.wav"
    path.write_bytes(bytes(data))
    with memory_bound(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            meta = info(path)
            x, rate = load(path)
        except AudioFileError:
            return
    assert rate > 0 and meta.sample_rate == rate
    assert x.ndim == 2 and np.isfinite(np.asarray(x)).all()
