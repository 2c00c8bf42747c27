"""Baseline training: latent-weight STE with BPTT (``--method stbp``).

A run directory holds ``model.pt`` (weights + config), ``metrics.json`` (accuracy and firing rate per
layer, per epoch) and ``config.json``; every file is written atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from flipspike.ir.netdesc import write_text_atomic

from .data import Split, load_dataset
from .model import BSNN, ModelConfig
from .optim import BSO, TBSO

#: method -> weight mode of the binary layers
METHODS = {"fp": "fp", "stbp": "ste", "bso": "direct", "tbso": "direct"}
ONLINE = ("bso", "tbso")


@dataclass
class TrainConfig:
    dataset: str = "digits"
    method: str = "stbp"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-3                  # Adam, BPTT methods (fp, stbp)
    seed: int = 0
    # online methods (bso, tbso): published defaults; full-precision parameters by SGD + cosine schedule
    gamma: float = 5e-7
    beta1: float = 1 - 1e-3
    beta2: float = 1 - 1e-5
    decay_every: int = 10             # gamma and 1 - beta1 times 0.1 every this many epochs
    fp_lr: float = 0.1
    reset_momentum: bool = False      # BSO: zero the momentum of flipped weights (the official code's branch)
    mse_weight: float = 0.05          # loss per step: ((1 - w) CE + w MSE to one-hot) / T


@torch.no_grad()
def evaluate(model: BSNN, x: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    """Test accuracy and the firing rate (spikes per neuron per step) of each hidden layer."""
    model.eval()
    out, spikes = model(torch.as_tensor(x, dtype=torch.float32))
    acc = (out.argmax(1).numpy() == y).mean().item()
    return acc, [s.mean().item() for s in spikes]


def _signs(model: BSNN) -> list[torch.Tensor]:
    return [fc.weight.detach() >= 0 for fc in [*model.hidden, model.out] if fc.binary]


def train(model_cfg: ModelConfig, cfg: TrainConfig, out_dir: str | os.PathLike, *, progress: bool = True) -> dict:
    if cfg.method not in METHODS:
        raise ValueError(f"--method {cfg.method!r} is not available; available: {', '.join(METHODS)}")
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    data: Split = load_dataset(cfg.dataset)
    if model_cfg.sizes[0] != data.x_train.shape[1] or model_cfg.sizes[-1] != data.classes:
        raise ValueError(f"--arch must start with {data.x_train.shape[1]} inputs and end with {data.classes} "
                         f"classes for {cfg.dataset}, got {'-'.join(map(str, model_cfg.sizes))}")
    model_cfg = replace(model_cfg, weight_mode=METHODS[cfg.method])
    model = BSNN(model_cfg)
    step = _OnlineTrainer(model, cfg) if cfg.method in ONLINE else _BPTTTrainer(model, cfg)
    x_train = torch.as_tensor(data.x_train, dtype=torch.float32)
    y_train = torch.as_tensor(data.y_train)
    gen = torch.Generator().manual_seed(cfg.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    history = []
    bar = tqdm(range(cfg.epochs), desc=f"train {cfg.method}", disable=not progress, unit="epoch")
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        before = _signs(model)
        perm = torch.randperm(len(x_train), generator=gen)
        flips_per_iter = []
        for b in range(0, len(perm), cfg.batch_size):
            idx = perm[b:b + cfg.batch_size]
            signs = _signs(model)
            loss = step.batch(x_train[idx], y_train[idx])
            flips_per_iter.append([(a != b).float().mean().item() for a, b in zip(signs, _signs(model))])
        step.end_epoch(epoch + 1)
        acc, rates = evaluate(model, data.x_test, data.y_test)
        history.append({
            "epoch": epoch + 1, "test_accuracy": acc, "firing_rate": rates, "loss": loss,
            "flip_ratio_epoch": [(a != b).float().mean().item() for a, b in zip(before, _signs(model))],
            "flip_ratio_iteration": np.mean(flips_per_iter, axis=0).tolist() if flips_per_iter[0] else [],
            "seconds": time.perf_counter() - start})
        bar.set_postfix(acc=f"{acc:.4f}")
    metrics = {"method": cfg.method, "dataset": cfg.dataset, "arch": model_cfg.sizes, "timesteps": model_cfg.timesteps,
               "seed": cfg.seed, "final_test_accuracy": history[-1]["test_accuracy"], "epochs": history}
    save_run(out_dir, model, cfg, metrics)
    return metrics


class _BPTTTrainer:
    """fp and stbp: the whole sequence forward, backpropagation through time, Adam + cosine schedule."""

    def __init__(self, model: BSNN, cfg: TrainConfig):
        self.model, self.cfg = model, cfg
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs)

    def batch(self, x, y) -> float:
        out, _ = self.model(x)
        loss = F.cross_entropy(out / self.model.cfg.timesteps, y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        with torch.no_grad():                  # keep latent weights where the STE passes gradients
            for fc in [*self.model.hidden, self.model.out]:
                if fc.mode == "ste":
                    fc.weight.clamp_(-1, 1)
        return loss.item()

    def end_epoch(self, epoch: int) -> None:
        self.sched.step()


class _OnlineTrainer:
    """bso and tbso: one forward and backward per time step (no BPTT), the binary update after each."""

    def __init__(self, model: BSNN, cfg: TrainConfig):
        self.model, self.cfg = model, cfg
        T = model.cfg.timesteps
        if cfg.method == "bso":
            self.bin = BSO(model.binary_parameters(), gamma=cfg.gamma, beta=cfg.beta1,
                           reset_momentum=cfg.reset_momentum)
        else:
            self.bin = TBSO(model.binary_parameters(), gamma=cfg.gamma, betas=(cfg.beta1, cfg.beta2), timesteps=T)
        self.fp = torch.optim.SGD(model.float_parameters(), lr=cfg.fp_lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.fp, T_max=cfg.epochs)

    def batch(self, x, y) -> float:
        T, w = self.model.cfg.timesteps, self.cfg.mse_weight
        onehot = F.one_hot(y, self.model.cfg.sizes[-1]).float()
        state, total = None, 0.0
        for t in range(T):
            o, state = self.model.online_step(x, state)
            loss = ((1 - w) * F.cross_entropy(o, y) + w * F.mse_loss(o, onehot)) / T
            self.fp.zero_grad()
            self.bin.zero_grad()
            loss.backward()
            self.fp.step()
            self.bin.step(t)
            total += loss.item()
        return total

    def end_epoch(self, epoch: int) -> None:
        self.sched.step()
        if self.cfg.decay_every and epoch % self.cfg.decay_every == 0:
            for group in self.bin.param_groups:
                group["gamma"] *= 0.1
                key = "beta" if "beta" in group else "betas"
                if key == "beta":
                    group["beta"] = 1 - (1 - group["beta"]) * 0.1
                else:
                    group["betas"] = (1 - (1 - group["betas"][0]) * 0.1, group["betas"][1])


def save_run(out_dir: Path, model: BSNN, cfg: TrainConfig, metrics: dict) -> None:
    tmp = out_dir / ".model.pt.tmp"
    torch.save({"model_config": model.cfg.to_dict(), "train_config": vars(cfg), "state_dict": model.state_dict()}, tmp)
    os.replace(tmp, out_dir / "model.pt")
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    write_text_atomic(out_dir / "config.json", json.dumps({"model": model.cfg.to_dict(), "train": vars(cfg)}, indent=1) + "\n")


def load_run(run_dir: str | os.PathLike) -> tuple[BSNN, dict]:
    path = Path(run_dir) / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; train a model first with `flipspike train --out {run_dir}`")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = BSNN(ModelConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt
