"""Co-simulation of on-chip learning: the flip unit against the integer flip rule, update by update.

Errors and traces are streamed from the host over the load bus (gradient source (a) of the issue):
random ones for exactness runs, or label-driven ones for on-device adaptation of the output layer,
computed on the host from the integer reference and checked against the hardware after every update.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from flipspike.ir.errors import ConfigError
from flipspike.ir.learning import Learning
from flipspike.ir.plan import NetPlan, input_simd
from flipspike.ir.memory_map import memory_map, update_writes, words_to_matrix
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold
from flipspike.ir.learning import FlipRule
from flipspike.sw.integer import run_integer
from flipspike.sw.integer_learning import FlipState, flip_step

from .compare import compare
from .cosim import run_hardware
from .samples import pixel_words


def random_updates(rng: np.random.Generator, layer, rule: FlipRule, n: int):
    """n random (delta, trace) pairs within the rule's widths."""
    d = rng.integers(-(1 << (rule.delta_bits - 1)), 1 << (rule.delta_bits - 1), (n, layer.n_out))
    t = rng.integers(0, 1 << rule.trace_bits, (n, layer.n_in))
    return list(zip(d, t))


def layer_inputs(desc: NetDesc, index: int, x: np.ndarray) -> np.ndarray:
    """Per-sample trace of layer ``index``'s inputs: spike counts over T (pixels for a direct first layer;
    a frame- or rate-fed first layer's inputs, summed over T)."""
    if index == 0 and desc.stores_current(0):
        return np.asarray(x, dtype=np.int64)
    if index == 0:
        return run_integer(desc, x).layer_inputs(0).sum(0).numpy()
    return run_integer(desc, x).layers[index - 1].outputs.sum(0).numpy()


def label_updates(desc: NetDesc, rule: FlipRule, x: np.ndarray, y: np.ndarray):
    """Perceptron-style errors for the output layer, one update per sample, from the current weights:
    where the predicted class p differs from the label, delta_p = +D and delta_label = -D (D the largest
    delta), so the flip rule moves p's weights away from, and the label's towards, the active inputs."""
    index = len(desc.layers) - 1
    layer = desc.layers[index]
    traces = layer_inputs(desc, index, x)
    if traces.max(initial=0) >= 1 << rule.trace_bits:
        raise ConfigError(f"traces reach {traces.max()}: raise --trace-bits to {int(traces.max()).bit_length()}")
    # acc = sum_t (I_t << F) + T*c with sum_t I_t = w @ (spike counts); pixels: T * ((w @ x) << F + c)
    bias_steps = 1 if desc.stores_current(index) else desc.timesteps
    big = (1 << (rule.delta_bits - 1)) - 1
    state = FlipState(torch.from_numpy(layer.weights.copy()), torch.zeros(layer.weights.shape, dtype=torch.int64))
    updates = []
    for trace, label in zip(traces, y):
        w = state.bits.to(torch.int64) * 2 - 1
        acc = ((w @ torch.from_numpy(trace)) << layer.frac_bits) + torch.from_numpy(layer.bias) * bias_steps
        delta = np.zeros(layer.n_out, dtype=np.int64)
        predicted = int(torch.argmax(acc))
        if predicted != label:
            delta[predicted], delta[label] = big, -big
        updates.append((delta, trace))
        state, _ = flip_step(state, delta, trace, rule)
    return updates


def learning_memory(desc: NetDesc, folds: list[Fold], learn: Learning) -> dict:
    """On-chip bits: everything inference needs vs what learning adds (momenta, errors, traces)."""
    inference = 0
    for region in memory_map(desc, folds):
        inference += region.depth * region.width
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        inference += layer.n_out * layer.widths.state                      # membranes / accumulators
        if i == 0:
            depth, width = NetPlan(desc, folds).input_buffer
            inference += depth * width + (layer.n_out * layer.widths.current if desc.stores_current(0) else 0)
        else:
            inference += 2 * layer.n_in                                    # ping-pong spike buffer
    layer = desc.layers[learn.layer]
    momentum = layer.n_in * layer.n_out * learn.rule.momentum_bits
    extra = momentum + layer.n_out * learn.rule.delta_bits + layer.n_in * learn.rule.trace_bits
    extra += learn.rule.v_bits if learn.rule.tbso else 0
    return {"momentum_bits_per_weight": learn.rule.momentum_bits, "inference_bits": inference,
            "learning_bits": extra, "overhead": extra / inference}


def fold_moments(layer, fold: Fold) -> int:
    """Extra cycles of a T-BSO-mode update: one per trace word and per error word, plus two."""
    return layer.n_in // fold.simd + layer.n_out // fold.pe + 2


def learn_cosim(desc: NetDesc, folds: list[Fold], rule: FlipRule, updates=None, *, onchip=None, x_eval=None,
                y_eval=None, simulator: str = "verilator", build_root: str | Path = "build", target=None) -> dict:
    """Learning steps on the output layer's flip unit, compared with the integer rule after each.

    ``updates``: (delta, trace) pairs streamed over the load bus (gradient source (a)). ``onchip``:
    (x, y) training samples instead; each is inferred on chip and the layer learns from its label alone
    (source (b)), held against the same rule with host-computed errors (:func:`label_updates`).
    ``target``: a board with a flip unit (fresh: momenta zero) instead of a simulator."""
    start = time.perf_counter()
    index = len(desc.layers) - 1
    layer, fold = desc.layers[index], folds[index]
    learn = Learning(index, rule)
    regions = [r for r in memory_map(desc, folds, learn) if r.layer == index]
    words = (layer.n_in // fold.simd) * (layer.n_out // fold.pe)
    if onchip is not None:
        x_learn, y_learn = (np.asarray(a) for a in onchip)
        updates = label_updates(desc, rule, x_learn, y_learn)
        jobs = [{"label": int(label), "pixels": pixel_words(pixels, input_simd(desc, folds)), "words": words, "tbso": rule.tbso}
                for pixels, label in zip(x_learn, y_learn)]
    else:
        jobs = [{"writes": update_writes(regions, fold, rule, d, t), "words": words, "tbso": rule.tbso}
                for d, t in updates]
    x = np.zeros((1, desc.input.size), dtype=np.int64) if x_eval is None else np.asarray(x_eval)

    state = FlipState(torch.from_numpy(layer.weights.copy()), torch.zeros(layer.weights.shape, dtype=torch.int64))
    expected, total = [], 0
    for d, t in updates:
        state, flips = flip_step(state, d, t, rule)
        total += flips
        expected.append((state.bits.tolist(), state.momentum.tolist(), total, state.v))
    after = desc.copy()
    after.layers[index].weights = state.bits.numpy().astype(np.uint8)

    (observed,), timings = run_hardware(
        desc, folds, [{"loads": [], "samples": x, "stream": False, "updates": jobs, "samples_after": x}],
        simulator=simulator, build_root=build_root, learn=learn, target=target)

    mismatched, cycles = [], []
    previous = 0
    for u, ((bits, mom, flips, v), obs) in enumerate(zip(expected, observed["learn"])):
        hw_bits = words_to_matrix(obs["weights"], layer.n_out, layer.n_in, fold)
        hw_mom = words_to_matrix(obs["momentum"], layer.n_out, layer.n_in, fold, rule.momentum_bits, signed=True)
        if hw_bits != bits or hw_mom != mom or obs["flips"] != flips or obs.get("v", 0) != v:
            mismatched.append(u)
        cycles.append(obs["cycles"] - previous)
        previous = obs["cycles"]
    ref_before, ref_after = run_integer(desc, x), run_integer(after, x)
    inference_diffs = (compare(ref_before, {"samples": observed["samples"]})
                       + compare(ref_after, {"samples": observed["samples_after"]}))
    report = {
        "simulator": simulator, "layer": layer.name, "rule": rule.as_dict(),
        "source": "on-chip labels" if onchip is not None else "host errors",
        "updates": len(updates), "flips": total, "mismatches": len(mismatched) + len(inference_diffs),
        "mismatched_updates": mismatched[:20], "inference_mismatches": len(inference_diffs),
        "cycles_per_update": float(np.mean(cycles)) if cycles else None,
        "cycles_per_update_model": words + 1 + (fold_moments(layer, fold) if rule.tbso else 0),
        "memory": learning_memory(desc, folds, learn),
        "timings": {**timings, "total_s": time.perf_counter() - start},
    }
    if y_eval is not None:
        y = np.asarray(y_eval)
        report["acc_before"] = float(np.mean([o["cls"] for o in observed["samples"]] == y))
        report["acc_after"] = float(np.mean([o["cls"] for o in observed["samples_after"]] == y))
    return report
