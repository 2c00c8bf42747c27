"""On-chip learning: memory per weight vs accuracy of on-device adaptation.

    .venv/bin/python bench/learning_memory.py [--net runs/demo/net.json]

Takes the digits network (trains the README's one if --net is not given), randomizes its output layer,
and learns it back with the integer flip rule from labels (one pass over the training split, one update
per image) for several momentum widths. Prints test accuracy and the learning memory overhead. The
hardware computes exactly this rule (tests/test_learn_cosim.py holds it bit for bit; `make demo-learn`
co-simulates the default setting).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from flipspike.ir.learning import Learning
from flipspike.ir import NetDesc, default_folding
from flipspike.ir.learning import FlipRule
from flipspike.sim.learn import label_updates, learning_memory
from flipspike.sw.data import load_dataset
from flipspike.sw.integer import run_integer
from flipspike.sw.integer_learning import FlipState, flip_step

SETTINGS = [  # (momentum bits, rate shift, threshold)
    (12, 5, 64), (10, 4, 32), (8, 3, 16), (6, 2, 8), (4, 1, 2), (3, 1, 1), (2, 1, 0),
]


def trained_net() -> NetDesc:
    from flipspike.sw.export import export_model
    from flipspike.sw.model import ModelConfig
    from flipspike.sw.train import TrainConfig, load_run, train
    with tempfile.TemporaryDirectory() as tmp:
        train(ModelConfig("64-128-10", timesteps=4), TrainConfig(epochs=30, seed=0), tmp, progress=False)
        return export_model(load_run(tmp)[0], pixel_bits=5, pixel_max=16, frac_bits=4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2)
    desc = NetDesc.load(args.net) if args.net else trained_net()
    data = load_dataset("digits")
    trained_acc = (run_integer(desc, data.x_test).cls.numpy() == data.y_test).mean()
    out = desc.layers[-1]
    out.weights = np.random.default_rng(0).integers(0, 2, out.weights.shape).astype(np.uint8)
    out.bias[:] = 0
    chance = (run_integer(desc, data.x_test).cls.numpy() == data.y_test).mean()
    folds = default_folding(desc.layers)
    print(f"digits 64-128-10: trained output layer {trained_acc:.4f}; randomized {chance:.4f}")
    print("momentum bits | rate 1-beta | gamma | test acc after 1 pass | learning bits | overhead vs inference")
    for bits, k, gamma in SETTINGS:
        rule = FlipRule(momentum_bits=bits, rate_shift=k, threshold=gamma)      # other fields: the defaults
        d = desc.copy()
        state = FlipState(torch.from_numpy(out.weights.copy()), torch.zeros(out.weights.shape, dtype=torch.int64))
        for delta, trace in label_updates(d, rule, data.x_train, data.y_train):
            state, _ = flip_step(state, delta, trace, rule)
        d.layers[-1].weights = state.bits.numpy().astype(np.uint8)
        acc = (run_integer(d, data.x_test).cls.numpy() == data.y_test).mean()
        mem = learning_memory(desc, folds, Learning(len(desc.layers) - 1, rule))
        print(f"{bits:13d} | 2^-{k:<9d} | {gamma:5d} | {acc:21.4f} | {mem['learning_bits']:13d} | "
              f"{100 * mem['overhead']:.1f}%")


if __name__ == "__main__":
    main()
