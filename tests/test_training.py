"""The golden model trains, exports, and its integer mode keeps the float accuracy."""

import numpy as np
import torch

from flipspike.sw.data import load_dataset
from flipspike.sw.export import export_model
from flipspike.sw.integer import run_integer
from flipspike.sw.layers import lif_sequence, sign_pm1
from flipspike.sw.model import BSNN, ModelConfig
from flipspike.sw.metrics import evaluate
from flipspike.sw.train import load_run

from helpers import randomize_bn


def test_digits_split_is_fixed(digits):
    assert digits.x_test.shape == (360, 64) and digits.x_train.shape == (1437, 64)
    assert np.bincount(digits.y_test).min() >= 35                 # stratified
    again = load_dataset("digits")
    assert np.array_equal(again.x_test, digits.x_test)
    assert digits.x_test.max() == 16 == digits.pixel_max


def test_stbp_reaches_target(digits_run):
    _, metrics = digits_run
    assert metrics["final_test_accuracy"] >= 0.95
    assert len(metrics["epochs"]) == 30 and 0 < metrics["epochs"][-1]["firing_rate"][0] < 1


def test_integer_mode_within_half_a_point(digits_run, digits_desc, digits):
    model, _ = load_run(digits_run[0])
    float_acc = evaluate(model, digits.x_test, digits.y_test)["accuracy"]
    int_acc = (run_integer(digits_desc, digits.x_test).cls.numpy() == digits.y_test).mean()
    assert abs(float_acc - int_acc) <= 0.005


def test_sign_of_zero_is_plus_one():
    assert sign_pm1(torch.tensor([-0.5, 0.0, 0.3])).tolist() == [-1.0, 1.0, 1.0]


def test_same_seed_same_result(tmp_path):
    from flipspike.sw.train import TrainConfig, train
    cfg = ModelConfig("64-16-10", timesteps=2)
    a = train(cfg, TrainConfig(epochs=2, seed=3), tmp_path / "a", progress=False)
    b = train(cfg, TrainConfig(epochs=2, seed=3), tmp_path / "b", progress=False)
    assert [e["test_accuracy"] for e in a["epochs"]] == [e["test_accuracy"] for e in b["epochs"]]


def test_bn_folding_with_negative_scales_matches_float_spikes():
    """Random BN statistics, half of the scales negative: the exported integer network must reproduce
    the float model's hidden spikes (up to rare rounding at the threshold) and its outputs' argmax."""
    torch.manual_seed(0)
    model = BSNN(ModelConfig("64-32-24-10", timesteps=4, reset="soft"))
    randomize_bn(model, mean=5, var=50)
    model.eval()
    assert (model.norms[0].weight < 0).sum() > 5
    x = load_dataset("digits").x_test
    out, spikes = model(torch.as_tensor(x, dtype=torch.float32))
    desc = export_model(model, pixel_bits=5, pixel_max=16, frac_bits=10)
    ref = run_integer(desc, x)
    for float_s, trace in zip(spikes, ref.layers):
        agree = (float_s.to(torch.int64) == trace.spikes).float().mean().item()
        assert agree > 0.995
    assert (out.argmax(1) == ref.cls).float().mean().item() > 0.97


def test_float_lif_order_matches_integer_semantics():
    # leak, integrate, fire (>=), hard reset: v = 0.5*v + z
    z = torch.tensor([[[0.6]], [[0.6]], [[0.6]], [[0.2]]])
    s = lif_sequence(z, leak_shift=1, threshold=1.0, reset="hard", surrogate="triangular")
    assert s.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]          # 0.6, 0.9, 1.05 -> fire, 0.2
