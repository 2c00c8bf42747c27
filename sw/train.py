"""Baseline training: latent-weight STE with BPTT (``--method stbp``).

A run directory holds ``model.pt`` (weights + config), ``metrics.json`` (accuracy and firing rate per
layer, per epoch) and ``config.json``; every file is written atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from flipspike.ir.netdesc import write_text_atomic

from .data import Split, load_dataset
from .model import BSNN, ModelConfig

METHODS = ("stbp",)


@dataclass
class TrainConfig:
    dataset: str = "digits"
    method: str = "stbp"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-3
    seed: int = 0


@torch.no_grad()
def evaluate(model: BSNN, x: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    """Test accuracy and the firing rate (spikes per neuron per step) of each hidden layer."""
    model.eval()
    out, spikes = model(torch.as_tensor(x, dtype=torch.float32))
    acc = (out.argmax(1).numpy() == y).mean().item()
    return acc, [s.mean().item() for s in spikes]


def train(model_cfg: ModelConfig, cfg: TrainConfig, out_dir: str | os.PathLike, *, progress: bool = True) -> dict:
    if cfg.method not in METHODS:
        raise ValueError(f"--method {cfg.method!r} is not available yet; available: {', '.join(METHODS)}")
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    data: Split = load_dataset(cfg.dataset)
    if model_cfg.sizes[0] != data.x_train.shape[1] or model_cfg.sizes[-1] != data.classes:
        raise ValueError(f"--arch must start with {data.x_train.shape[1]} inputs and end with {data.classes} "
                         f"classes for {cfg.dataset}, got {'-'.join(map(str, model_cfg.sizes))}")
    model = BSNN(model_cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
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
        perm = torch.randperm(len(x_train), generator=gen)
        for b in range(0, len(perm), cfg.batch_size):
            idx = perm[b:b + cfg.batch_size]
            out, _ = model(x_train[idx])
            loss = F.cross_entropy(out / model_cfg.timesteps, y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():                      # keep latent weights where the STE passes gradients
                for fc in [*model.hidden, model.out]:
                    fc.weight.clamp_(-1, 1)
        sched.step()
        acc, rates = evaluate(model, data.x_test, data.y_test)
        history.append({"epoch": epoch + 1, "test_accuracy": acc, "firing_rate": rates,
                        "loss": loss.item(), "seconds": time.perf_counter() - start})
        bar.set_postfix(acc=f"{acc:.4f}")
    metrics = {"method": cfg.method, "dataset": cfg.dataset, "arch": model_cfg.sizes, "timesteps": model_cfg.timesteps,
               "seed": cfg.seed, "final_test_accuracy": history[-1]["test_accuracy"], "epochs": history}
    save_run(out_dir, model, cfg, metrics)
    return metrics


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
