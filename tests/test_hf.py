"""audionoise.hf.Transform: each row's augmentation depends only on (seed, epoch, key), whatever the host does."""

import json
import shutil

import numpy as np
import pytest
import torch

datasets = pytest.importorskip("datasets", reason="the audionoise[hf] extra (datasets) is not installed")

import audionoise as an  # noqa: E402
from audionoise import io  # noqa: E402
from audionoise.kernels.seeds import derive_seed  # noqa: E402
from audionoise.hf import Transform, row_seed  # noqa: E402

RATE = 16000


def _call(pipe, x, seed):
    """The one-row definition: ``pipe(x, generator=Generator().manual_seed(seed))``, its first example."""
    out = pipe(x, None, torch.Generator().manual_seed(seed))
    return (out[0] if isinstance(out, tuple) else out)[0]


def _pipe():
    return an.Compose([an.WhiteNoise(0, 20), an.Gain(-6, 6), an.TimeMask(0.05, sample_rate=RATE, p=0.5)])


def _rows(n=10):
    """Rows of a few different lengths (some equal), keyed by id."""
    g = torch.Generator().manual_seed(1)
    lengths = [800, 1200, 800, 1000, 1200, 800, 600, 1000, 800, 1200][:n]
    return {"id": [f"utt{i}" for i in range(n)],
            "audio": [{"array": (0.1 * torch.randn(m, generator=g)).numpy(), "sampling_rate": RATE}
                      for m in lengths]}


def _by_id(ds_rows):
    return {r["id"]: np.asarray(r["audio"]["array"], dtype=np.float32) for r in ds_rows}


def test_a_row_is_its_one_row_pipeline_call():
    rows = _rows()
    out = Transform(_pipe(), seed=3, key_column="id")(rows)
    pipe = _pipe()
    for i, key in enumerate(rows["id"]):
        x = torch.from_numpy(rows["audio"][i]["array"])[None]
        want = _call(pipe, x, derive_seed(3, 0, key))
        assert np.array_equal(out["audio"][i]["array"], want.numpy()), key
        assert out["audio"][i]["sampling_rate"] == RATE
        assert out["id"][i] == key  # other columns pass through


def test_row_seed_is_the_seed_helper_of_augmented_dataset():
    from audionoise.data import derive_seed as dataset_seed

    assert row_seed(5, 2, 7) == dataset_seed(5, 2, 7)  # key = item index gives AugmentedDataset's stream


def test_batch_size_and_shuffling_do_not_change_a_row():
    ds = datasets.Dataset.from_dict(_rows())
    t = Transform(_pipe(), seed=0, key_column="id")
    one = _by_id(ds.map(t, batched=True, batch_size=1))
    four = _by_id(ds.map(t, batched=True, batch_size=4))
    shuffled = _by_id(ds.shuffle(seed=7).map(t, batched=True, batch_size=3))
    for key in one:
        assert np.array_equal(one[key], four[key]) and np.array_equal(one[key], shuffled[key]), key
    clean = _by_id(ds)
    assert all(not np.array_equal(one[k], clean[k]) for k in one)  # it did augment


def _by_id_columns(batch):
    return {k: np.asarray(a["array"], dtype=np.float32) for k, a in zip(batch["id"], batch["audio"])}


def test_with_transform_gives_the_map_result_and_epochs_differ():
    ds = datasets.Dataset.from_dict(_rows())
    t = Transform(_pipe(), seed=0, key_column="id")
    frozen = _by_id(ds.map(t, batched=True, batch_size=4))
    live = ds.with_transform(t)
    epoch0 = _by_id_columns(live[:])
    assert all(np.array_equal(epoch0[k], frozen[k]) for k in frozen)
    t.set_epoch(1)
    epoch1 = _by_id_columns(live[:])
    assert all(not np.array_equal(epoch0[k], epoch1[k]) for k in frozen)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        t.set_epoch(-1)


def _collate(rows):
    """Pad a list of rows (as a DataLoader over a with_transform dataset yields them) to (ids, x, lengths)."""
    arrays = [torch.as_tensor(np.asarray(r["audio"]["array"], dtype=np.float32)) for r in rows]
    lengths = torch.tensor([a.shape[-1] for a in arrays])
    x = torch.zeros(len(arrays), int(lengths.max()))
    for i, a in enumerate(arrays):
        x[i, :a.shape[-1]] = a
    return [r["id"] for r in rows], x, lengths


def _loader_rows(ds, t, workers, batch_size, shuffle_seed=None, epoch=0):
    from torch.utils.data import DataLoader

    t.set_epoch(epoch)
    loader = DataLoader(ds.with_transform(t), batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                        shuffle=shuffle_seed is not None,
                        generator=None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed))
    got = {}
    for ids, x, lengths in loader:
        for key, row, n in zip(ids, x, lengths):
            got[key] = row[:n].numpy()
    return got


def test_dataloader_workers_batch_size_and_shuffle_never_change_a_row():
    ds = datasets.Dataset.from_dict(_rows())
    t = Transform(_pipe(), seed=2, key_column="id")
    base = _loader_rows(ds, t, workers=0, batch_size=1)
    for workers, batch_size, shuffle in ((2, 4, 5), (2, 3, None), (0, 10, 1)):
        got = _loader_rows(ds, t, workers, batch_size, shuffle)
        assert got.keys() == base.keys()
        for key in base:
            assert np.array_equal(got[key], base[key]), (workers, batch_size, shuffle, key)
    # set_epoch in the main process reaches the workers
    later = _loader_rows(ds, t, workers=2, batch_size=4, epoch=3)
    assert all(not np.array_equal(later[k], base[k]) for k in base)
    assert all(np.array_equal(later[k], v) for k, v in _loader_rows(ds, t, workers=0, batch_size=2, epoch=3).items())


def test_return_params_adds_json_records_per_row():
    rows = _rows(3)
    out = Transform(_pipe(), seed=0, key_column="id", return_params=True)(rows)
    records = [json.loads(r) for r in out["augmentation"]]
    assert [[r["transform"] for r in recs] for recs in records] == [["WhiteNoise", "Gain", "TimeMask"]] * 3
    single = Transform(_pipe(), seed=0, key_column="id", return_params=True)({k: v[1:2] for k, v in rows.items()})
    assert single["augmentation"][0] == out["augmentation"][1]


def test_a_single_injector_with_records():
    rows = _rows(3)
    out = Transform(an.WhiteNoise(10, 10), seed=0, key_column="id", return_params=True)(rows)
    assert [json.loads(r)[0]["transform"] for r in out["augmentation"]] == ["WhiteNoise"] * 3
    x = torch.from_numpy(rows["audio"][0]["array"])[None]
    assert np.array_equal(out["audio"][0]["array"], _call(an.WhiteNoise(10, 10), x, derive_seed(0, 0, "utt0")).numpy())


def test_length_changing_pipeline_runs_row_by_row():
    pipe = an.Compose([an.SpeedPerturb([0.9], sample_rate=RATE), an.WhiteNoise(10, 10)])
    rows = _rows(3)
    out = Transform(pipe, seed=0, key_column="id")(rows)
    for i in range(3):
        assert out["audio"][i]["array"].shape[-1] == -(-len(rows["audio"][i]["array"]) * 10 // 9)  # ceil(n / 0.9)


def test_multichannel_rows_keep_their_layout_and_resampling():
    g = torch.Generator().manual_seed(0)
    rows = {"id": ["a", "b"], "audio": [{"array": torch.randn(2, 800, generator=g).numpy(), "sampling_rate": 8000},
                                        {"array": torch.randn(2, 800, generator=g).numpy(), "sampling_rate": 8000}]}
    out = Transform(an.Compose([an.WhiteNoise(5, 5)]), key_column="id", sample_rate=RATE)(rows)
    assert out["audio"][0]["array"].shape == (2, 1600) and out["audio"][0]["sampling_rate"] == RATE


def test_bad_input_is_one_clear_error():
    t = Transform(_pipe())
    with pytest.raises(ValueError, match=r"audio\[0\] carries no path .* pass key_column="):
        t(_rows(1))
    with pytest.raises(ValueError, match="audio_column 'speech' is not in the batch"):
        Transform(_pipe(), audio_column="speech")(_rows(1))
    with pytest.raises(ValueError, match="key_column 'uid' is not in the batch"):
        Transform(_pipe(), key_column="uid")(_rows(1))
    with pytest.raises(ValueError, match=r"Audio\(decode=False\)"):
        Transform(_pipe(), key_column="id")({"id": ["a"], "audio": [{"path": "a.wav", "bytes": None}]})
    with pytest.raises(ValueError, match="pipeline must be an audionoise injector or pipeline"):
        Transform(torch.nn.Identity())
    with pytest.raises(ValueError, match="spectrogram transforms"):
        Transform(an.Compose([an.SpecTimeMask(4)]))


def _torchcodec_reason():
    if shutil.which("ffmpeg") is None:
        return "FFmpeg is not installed (datasets 4+ decodes audio with torchcodec, which needs it)"
    try:
        import torchcodec  # noqa: F401
    except Exception as exc:  # ImportError, or FFmpeg libraries it cannot load
        return f"torchcodec cannot be used ({type(exc).__name__}: {exc})"
    return None


def test_decoder_objects_are_keyed_by_their_path(tmp_path):
    reason = _torchcodec_reason()
    if reason:
        pytest.skip(reason)
    g = torch.Generator().manual_seed(0)
    paths = []
    for i, n in enumerate((800, 1000, 800)):
        paths.append(str(tmp_path / f"c{i}.wav"))
        io.save(paths[-1], 0.1 * torch.randn(1, n, generator=g), RATE, subtype="FLOAT")
    ds = datasets.Dataset.from_dict({"audio": paths}).cast_column("audio", datasets.Audio())
    t = Transform(_pipe(), seed=4)
    out = ds.with_transform(t)[:]
    pipe = _pipe()
    for path, cell in zip(paths, out["audio"]):
        x, _ = io.load(path)
        want = _call(pipe, x, derive_seed(4, 0, path))
        assert np.array_equal(cell["array"], want.numpy())
    assert np.array_equal(ds.select([2]).with_transform(t)[0]["audio"]["array"], out["audio"][2]["array"])
