"""AGMM, SEI, metrics, the comparison report, and resuming a killed run."""

import json

import numpy as np
import pytest
import torch

from flipspike.sw.agmm import AGMM
from flipspike.sw.export import export_model
from flipspike.sw.integer import run_integer
from flipspike.sw.metrics import GraphMemory, model_bytes
from flipspike.sw.model import BSNN, ModelConfig
from flipspike.sw.train import TrainConfig, load_run, train


def test_agmm_gate_matches_its_equation_and_shrinks_the_gradient():
    torch.manual_seed(0)
    m = AGMM(3)
    with torch.no_grad():
        m.alpha.copy_(torch.tensor([0.5, 1.0, 2.0]))
    x = torch.randn(3, 2, 5, requires_grad=True)
    o = m(x)
    mean = x.detach().mean(0, keepdim=True)
    want = x.detach() * torch.sigmoid(torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1) * mean)
    assert torch.allclose(o, want)
    o.sum().backward()
    direct = torch.sigmoid(torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1) * mean)   # dO[t]/dX[t] without the mean path
    assert (direct < 1).all()
    m.mix.fill_(0.0)
    assert m(x) is x                                                  # annealed away: the identity


def test_agmm_is_annealed_away_and_exports(tmp_path, digits):
    metrics = train(ModelConfig("64-32-10", timesteps=2), TrainConfig(method="agmm", epochs=4, seed=0),
                    tmp_path, progress=False)
    model, _ = load_run(tmp_path)
    assert model.agmm is not None and all(float(a.mix) == 0 for a in model.agmm)
    desc = export_model(model, pixel_bits=5, pixel_max=16, frac_bits=8)
    acc = (run_integer(desc, digits.x_test).cls.numpy() == digits.y_test).mean()
    assert abs(acc - metrics["final_test_accuracy"]) <= 0.01


def test_agmm_refuses_online_training():
    model = BSNN(ModelConfig("64-16-10", timesteps=2, agmm="gate", weight_mode="direct"))
    with pytest.raises(ValueError, match="AGMM needs the whole sequence"):
        model.online_step(torch.zeros(2, 64), None)


def test_sei_distils_and_exports_its_shortcut(tmp_path, digits):
    metrics = train(ModelConfig("64-32-32-10", timesteps=2), TrainConfig(method="sei", epochs=3, seed=0),
                    tmp_path, progress=False)
    assert (tmp_path / "teacher" / "model.pt").is_file()                 # the fp teacher, trained first
    teacher, _ = load_run(tmp_path / "teacher")
    assert not any(op.binary for op in teacher.layers())
    model, _ = load_run(tmp_path)
    assert model.shortcut == [False, True]
    desc = export_model(model, pixel_bits=5, pixel_max=16, frac_bits=8)
    assert desc.layers[1].shortcut is not None and desc.layers[0].shortcut is None
    acc = (run_integer(desc, digits.x_test).cls.numpy() == digits.y_test).mean()
    assert abs(acc - metrics["final_test_accuracy"]) <= 0.01


def test_model_bytes_counts_binary_weights_as_bits():
    model = BSNN(ModelConfig("64-16-10", timesteps=2))
    # binary 64*16 + 16*10 bits; BN: 4 vectors of 16 floats; output scale 1 + bias 10 floats
    assert model_bytes(model) == (64 * 16 + 16 * 10) // 8 + 4 * (4 * 16 + 1 + 10)


def test_bptt_graph_grows_with_timesteps_online_does_not():
    def peak(method_mode, T):
        torch.manual_seed(0)
        model = BSNN(ModelConfig("c8-c8-p2-fc10", input_shape=(8, 8, 1), timesteps=T, weight_mode=method_mode))
        x = torch.rand(16, 64) * 16
        mem = GraphMemory()
        with mem:
            if method_mode == "ste":
                out, _ = model(x)
                mem.mark()
                out.sum().backward()
            else:
                state = None
                for _ in range(T):
                    o, state = model.online_step(x, state)
                    mem.mark()
                    o.sum().backward()
        return mem.peak
    bptt = [peak("ste", T) for T in (1, 4, 8)]
    online = [peak("direct", T) for T in (1, 4, 8)]
    assert bptt[2] > 4 * bptt[0]
    assert max(online) <= 1.1 * min(online)


def test_resume_continues_where_the_kill_left_off(tmp_path):
    cfg = ModelConfig("64-16-10", timesteps=2)
    for method in ("stbp", "bso"):
        tc = TrainConfig(method=method, epochs=3, seed=5)
        whole = train(cfg, tc, tmp_path / f"whole-{method}", progress=False)
        train(cfg, tc, tmp_path / f"cut-{method}", progress=False, stop_after=1)          # "killed" after epoch 1
        resumed = train(cfg, tc, tmp_path / f"cut-{method}", progress=False, resume=True)
        assert [e["test_accuracy"] for e in resumed["epochs"]] == [e["test_accuracy"] for e in whole["epochs"]]
        a, _ = load_run(tmp_path / f"whole-{method}")
        b, _ = load_run(tmp_path / f"cut-{method}")
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name


def test_resume_refuses_other_settings(tmp_path):
    cfg = ModelConfig("64-16-10", timesteps=2)
    train(cfg, TrainConfig(epochs=2), tmp_path, progress=False, stop_after=1)
    with pytest.raises(ValueError, match="other settings"):
        train(cfg, TrainConfig(epochs=2, lr=1e-3), tmp_path, progress=False, resume=True)


def test_compare_writes_summary_and_plots(tmp_path):
    from flipspike.cli import main
    rc = main(["compare", "--methods", "fp,stbp,bso,sei", "--arch", "64-24-24-10", "--timesteps", "2",
               "--epochs", "2", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["methods"]) == ["fp", "stbp", "bso", "sei"]
    assert not (tmp_path / "sei" / "teacher").exists()                      # distilled from the fp run
    for method, row in summary["methods"].items():
        metrics = json.loads((tmp_path / method / "metrics.json").read_text())
        assert row["test_accuracy"] == metrics["epochs"][-1]["test_accuracy"]
        assert row["test_accuracy_std"] == 0.0
        assert len(row["curves"]["test_accuracy"]) == 2
    assert summary["methods"]["fp"]["flips_last_epoch"] == 0
    assert summary["methods"]["bso"]["flips_last_epoch"] > 0
    assert summary["methods"]["fp"]["model_bytes"] > 8 * summary["methods"]["stbp"]["model_bytes"] / 2
    md = (tmp_path / "summary.md").read_text()
    assert md.count("\n| ") == 5
    for png in ("accuracy.png", "flip_ratio.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_over_seeds_gives_mean_std_and_tests_the_claims(tmp_path):
    from flipspike.cli import main
    rc = main(["compare", "--methods", "stbp,agmm,sei,sei@1", "--arch", "64-16-10", "--timesteps", "2",
               "--epochs", "1", "--seeds", "3,4", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["seeds"] == [3, 4]
    for label, row in summary["methods"].items():
        accs = [json.loads((tmp_path / f"seed{s}" / label / "metrics.json").read_text())["epochs"][-1]["test_accuracy"]
                for s in (3, 4)]
        assert row["seed_accuracies"] == accs
        assert row["test_accuracy"] == pytest.approx(np.mean(accs))
        assert row["test_accuracy_std"] == pytest.approx(np.std(accs))
    config = json.loads((tmp_path / "seed4" / "sei@1" / "config.json").read_text())
    assert config["model"]["timesteps"] == 1 and config["train"]["seed"] == 4
    assert summary["methods"]["sei@1"]["timesteps"] == 1
    claims = {c["claim"]: c["holds"] for c in summary["claims"]}
    rows = summary["methods"]
    assert claims["AGMM is more accurate than STBP"] == (rows["agmm"]["test_accuracy"] > rows["stbp"]["test_accuracy"])
    assert claims["SEI at T=1 within 1 point of SEI at T=2"] == (
        rows["sei"]["test_accuracy"] - rows["sei@1"]["test_accuracy"] <= 0.01)
    assert "±" in (tmp_path / "summary.md").read_text()
    assert main(["compare", "--methods", "sei@x", "--out", str(tmp_path / "bad")]) == 2
    assert main(["compare", "--methods", "stbpp", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
