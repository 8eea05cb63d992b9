"""Robustness evaluation: deterministic per-clip noise, exact SNR, batch independence, table/JSON/PNG outputs."""

import json

import pytest
import torch

from audionoise import NoiseBank
from audionoise.cli import main as cli_main
from audionoise.functional import snr_db
from audionoise.kws.evaluate import evaluate, evaluate_run, format_table, noise_windows, run_names
from audionoise.kws.plots import plot_accuracy_vs_snr, plot_confusion


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tiny_kws_runs):
    return tiny_kws_runs


def test_noise_windows_depend_only_on_seed_and_clip_key():
    g = torch.Generator().manual_seed(0)
    bank = NoiseBank.from_tensors([torch.randn(5000, generator=g), torch.randn(12000, generator=g)], 16000)
    keys = ["yes/a_nohash_0.wav", "no/b_nohash_0.wav", "up/c_nohash_1.wav"]
    w = noise_windows(bank, keys, 4000, seed=3)
    assert w.shape == (3, 4000)
    torch.testing.assert_close(noise_windows(bank, keys[::-1], 4000, seed=3), w.flip(0), rtol=0, atol=0)
    torch.testing.assert_close(noise_windows(bank, keys[1:2], 4000, seed=3), w[1:2], rtol=0, atol=0)
    assert not torch.equal(noise_windows(bank, keys, 4000, seed=4), w)


def test_result_schema_and_determinism(trained):
    paths, runs = trained
    res = evaluate_run(runs[1], paths["kws"], noise=paths["noise_eval"], snrs=[20, 0, -5])
    assert set(res) >= {"clean", "snr", "n"}
    assert list(res["snr"]) == ["20", "0", "-5"]
    assert res["n"] == 12  # 10 test words + 1 silence + 1 unknown
    assert all(0.0 <= a <= 1.0 for a in [res["clean"], *res["snr"].values()])
    conf = torch.tensor(res["confusion"]["0"])
    assert conf.shape == (12, 12) and conf.sum() == 12
    assert conf.diag().sum().item() / 12 == pytest.approx(res["snr"]["0"])
    again = evaluate_run(runs[1], paths["kws"], noise=paths["noise_eval"], snrs=[20, 0, -5], batch_size=5)
    assert again["clean"] == res["clean"] and again["snr"] == res["snr"]  # batch size does not matter
    assert again["confusion"] == res["confusion"]


def test_very_high_snr_equals_clean_and_mixing_is_exact(trained):
    paths, runs = trained
    res = evaluate_run(runs[0], paths["kws"], noise=paths["noise_eval"], snrs=[200.0])
    assert res["snr"]["200"] == res["clean"]
    assert res["confusion"]["200"] == res["confusion"]["clean"]
    # the mixing used by the evaluation hits the SNR exactly over the valid samples
    from audionoise.functional import mix_at_snr

    bank = NoiseBank.from_folder(paths["noise_eval"], 16000)
    x = 0.1 * torch.randn(2, 1, 8000, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([8000, 5000])
    n = noise_windows(bank, ["a", "b"], 8000)[:, None]
    y = mix_at_snr(x, n, 0.0, lengths)
    torch.testing.assert_close(snr_db(x, y - x, lengths), torch.zeros(2), atol=1e-3, rtol=0)


def test_clean_only_without_noise_folder(trained):
    paths, runs = trained
    res = evaluate_run(runs[0], paths["kws"], subset="validation")
    assert res["snr"] == {} and res["n"] == 12 and list(res["confusion"]) == ["clean"]


def test_table_names_and_plots(trained, tmp_path):
    paths, runs = trained
    results = evaluate(runs, paths["kws"], noise=paths["noise_eval"], snrs=[10, 0])
    assert list(results) == ["clean", "augmented"]
    table = format_table(results).splitlines()
    assert table[0].split() == ["run", "clean", "10", "dB", "0", "dB", "n"]
    assert table[1].startswith("clean") and table[2].startswith("augmented")
    png = plot_accuracy_vs_snr(results, tmp_path / "acc.png")
    assert png.read_bytes()[:8] == PNG_MAGIC
    r = results["clean"]
    cm = plot_confusion({"clean": r["confusion"]["clean"], "0": r["confusion"]["0"]}, r["labels"],
                        tmp_path / "sub" / "cm.png")
    assert cm.read_bytes()[:8] == PNG_MAGIC
    assert run_names(["x/a", "y/a", "z/b"]) == ["x/a", "y/a", "b"]


def test_cli_evaluate_writes_json_plot_and_confusion(trained, tmp_path, capsys):
    paths, runs = trained
    out = tmp_path / "res.json"
    argv = ["evaluate", str(runs[1]), "--data", str(paths["kws"]), "--noise", str(paths["noise_eval"]),
            "--snr", "10", "0", "--json", str(out), "--plot", str(tmp_path / "acc.png")]
    assert cli_main(argv) == 0
    doc = json.loads(out.read_text())
    assert set(doc) >= {"clean", "snr", "n"} and list(doc["snr"]) == ["10", "0"] and doc["n"] == 12
    assert (tmp_path / "acc.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "acc_confusion.png").read_bytes()[:8] == PNG_MAGIC
    printed = capsys.readouterr().out
    assert "augmented" in printed and "0 dB" in printed
    # --noise takes whatever BackgroundNoise takes: the folder's files as a glob give the same accuracies
    argv_glob = ["evaluate", str(runs[1]), "--data", str(paths["kws"]), "--noise", f"{paths['noise_eval']}/*.wav",
                 "--snr", "10", "0", "--json", str(tmp_path / "glob.json")]
    assert cli_main(argv_glob) == 0
    assert json.loads((tmp_path / "glob.json").read_text())["snr"] == doc["snr"]
    assert cli_main(argv_glob[:5] + [str(tmp_path / "none")] + argv_glob[6:]) == 2
    assert "--noise" in capsys.readouterr().err
    # several runs: one JSON with every run, one confusion PNG per run
    argv = ["evaluate", *map(str, runs), "--data", str(paths["kws"]), "--noise", str(paths["noise_eval"]),
            "--snr", "0", "--json", str(out), "--confusion", str(tmp_path / "cm.png")]
    assert cli_main(argv) == 0
    assert set(json.loads(out.read_text())["runs"]) == {"clean", "augmented"}
    assert (tmp_path / "cm_clean.png").exists() and (tmp_path / "cm_augmented.png").exists()
    # intervals, the per-noise table and the paired comparison are in the JSON and the by-noise PNG is written
    argv = ["evaluate", *map(str, runs), "--data", str(paths["kws"]), "--noise", str(paths["noise_eval"]),
            "--snr", "10", "0", "--json", str(out), "--plot", str(tmp_path / "two.png")]
    assert cli_main(argv) == 0
    doc = json.loads(out.read_text())
    for r in doc["runs"].values():
        assert set(r["ci95"]) == {"clean", "10", "0"}
        assert all(lo <= acc <= hi for acc, (lo, hi) in zip([r["clean"], *r["snr"].values()], r["ci95"].values()))
        assert set(r["by_noise"]) == {"hum.wav"} and r["by_noise"]["hum.wav"] == r["snr"]  # one noise clip
        assert r["by_noise_n"] == {"hum.wav": 12} and "correct" not in r
    pair = doc["paired"]["augmented vs clean"]
    assert set(pair) == {"clean", "10", "0"}
    for cond, t in pair.items():
        ref, other = doc["runs"]["clean"], doc["runs"]["augmented"]
        acc = (lambda r: r["clean"] if cond == "clean" else r["snr"][cond])
        assert t["delta"] == pytest.approx(acc(other) - acc(ref)) and 0 < t["p"] <= 1
    assert (tmp_path / "two_by_noise.png").read_bytes()[:8] == PNG_MAGIC
    assert "McNemar" in capsys.readouterr().out
    # AdaBN: each run next to its adapted self, compared pairwise
    argv = ["evaluate", str(runs[1]), "--data", str(paths["kws"]), "--noise", str(paths["noise_eval"]),
            "--snr", "0", "--json", str(out), "--adapt-bn"]
    assert cli_main(argv) == 0
    doc = json.loads(out.read_text())
    assert list(doc["runs"]) == ["augmented", "augmented +AdaBN"]
    assert doc["runs"]["augmented +AdaBN"]["adapted_bn"] is True and not doc["runs"]["augmented"]["adapted_bn"]
    assert list(doc["paired"]) == ["augmented +AdaBN vs augmented"]


def test_errors_name_the_problem(trained, tmp_path):
    paths, runs = trained
    with pytest.raises(ValueError, match="no checkpoint"):
        evaluate_run(tmp_path, paths["kws"])
    with pytest.raises(ValueError, match="noise source .* does not exist"):
        evaluate_run(runs[0], paths["kws"], noise=tmp_path / "nope")
