"""Data-parallel training: 2 processes (torchrun, gloo on CPU) flip exactly the weights 1 process flips."""

import json
import os
import subprocess
import sys

import pytest
import torch

from flipspike.sw.model import ModelConfig
from flipspike.sw.train import TrainConfig, load_run, resolve_device, train


def test_device_auto_picks_what_exists():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["bso", "tbso"])
def test_two_processes_flip_the_same_weights_as_one(tmp_path, method):
    # float64 so that the only difference, the order of summation across ranks, cannot move a decision
    args = ["--method", method, "--arch", "64-32-16-10", "--timesteps", "2", "--epochs", "2", "--seed", "3",
            "--dtype", "float64", "--batch-size", "32", "--gamma", "1e-6"]
    one = train(ModelConfig("64-32-16-10", timesteps=2),
                TrainConfig(method=method, epochs=2, seed=3, dtype="float64", batch_size=32, gamma=1e-6),
                tmp_path / "one", progress=False)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "flipspike.cli", "train", *args, "--threads", "1", "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert one["world_size"] == 1 and two["world_size"] == 2                # really sharded over 2 ranks
    a, _ = load_run(tmp_path / "one")
    b, _ = load_run(tmp_path / "two")
    flips = sum(e["flip_ratio_epoch"][0] for e in one["epochs"])
    assert flips > 0                                                   # the rule really flipped weights
    for pa, pb in zip(a.binary_parameters(), b.binary_parameters()):
        assert torch.equal(pa, pb)
    assert [e["flip_ratio_iteration"] for e in one["epochs"]] == [e["flip_ratio_iteration"] for e in two["epochs"]]
    assert [e["test_accuracy"] for e in one["epochs"]] == [e["test_accuracy"] for e in two["epochs"]]
