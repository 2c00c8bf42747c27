"""Training: ``fp``, ``stbp``, ``agmm``, ``sei`` (BPTT) and ``bso``, ``tbso`` (online, no latent weights).

A run directory holds ``model.pt`` (weights + config), ``metrics.json`` (per epoch: accuracy, firing
rate and SOPs per layer, flip ratios, memory, time), ``config.json`` and ``checkpoint.pt`` (everything
needed to continue: ``resume=True`` / ``--resume``). Every file is written atomically.
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

from flipspike.ir.errors import ConfigError, MissingFileError
from flipspike.ir.files import ensure_dir, write_atomic, write_text_atomic

from . import distributed
from .data import Split, load_dataset
from .metrics import GraphMemory, evaluate, model_bytes, peak_rss_mb
from .model import BSNN, ModelConfig
from .optim import BSO, TBSO, IntBSO

#: method -> weight mode of the binary layers
METHODS = {"fp": "fp", "stbp": "ste", "agmm": "ste", "sei": "ste", "bso": "direct", "tbso": "direct",
           "bso-int": "direct"}
ONLINE = ("bso", "tbso", "bso-int")


@dataclass
class TrainConfig:
    dataset: str = "digits"
    method: str = "stbp"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-3                  # Adam, BPTT methods (fp, stbp, agmm, sei)
    seed: int = 0
    device: str = "cpu"               # "auto": the GPU when there is one
    dtype: str = "float32"            # or "float64"
    data_dir: str | None = None       # where downloaded datasets live (MNIST, CIFAR-10, DVS)
    pixel_bits: int | None = None     # quantise pixels to this many bits (None: the dataset's own)
    train_samples: int | None = None  # train on the first N training images only (quick runs, CI)
    bin_by: str = "time"              # event datasets with frame input: bin events by "time" or "count"
    denoise: int | None = None        # event datasets: drop events no neighbour saw within this window
    event_pool: int | None = None     # event datasets: pool events P x P (default: the dataset's own)
    # online methods (bso, tbso): published defaults; full-precision parameters by SGD + cosine schedule
    gamma: float = 5e-7
    beta1: float = 1 - 1e-3
    beta2: float = 1 - 1e-5
    decay_every: int = 10             # gamma and 1 - beta1 times 0.1 every this many epochs
    fp_lr: float = 0.1
    reset_momentum: bool = False      # BSO: zero the momentum of flipped weights (the official code's branch)
    mse_weight: float = 0.05          # loss per step: ((1 - w) CE + w MSE to one-hot) / T
    trace: str = "ottt"               # presynaptic trace of online training: "ottt" (lambda) or "ndot"
    # bso-int: the on-chip flip unit's integer rule (see flipspike.sw.optim.IntBSO)
    int_momentum_bits: int = 16
    int_grad_shift_bits: int = 22
    stochastic_rounding: bool = False
    # agmm
    agmm_form: str = "gate"
    agmm_anneal: float = 0.25         # AGMM is annealed to the identity over this fraction of the epochs
    # sei: distillation from a full-precision teacher SNN
    kd_weight: float = 0.5            # loss = (1 - w) CE + w tau^2 KL(teacher || student)
    kd_temperature: float = 2.0
    teacher: str | None = None        # a trained fp run to distil from; None: train one first (same arch)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device is available here; use --device cpu or auto")
    return torch.device(name)


def _signs(model: BSNN) -> list[torch.Tensor]:
    return [op.weight.detach() >= 0 for op in model.layers() if op.binary]


def model_config_for(model_cfg: ModelConfig, cfg: TrainConfig, data: Split) -> ModelConfig:
    """The model a method trains: its weight mode, AGMM or shortcuts, and the dataset's input shape."""
    if cfg.method not in METHODS:
        raise ConfigError(f"--method {cfg.method!r} is not available; available: {', '.join(METHODS)}")
    extra = {}
    if cfg.method == "agmm":
        extra["agmm"] = cfg.agmm_form
    if cfg.method == "sei":
        extra["shortcuts"] = True
    if model_cfg.encoding == "rate":
        extra["input_bits"] = data.pixel_bits
    return replace(model_cfg, weight_mode=METHODS[cfg.method], input_shape=data.input_shape, **extra)


def training_split(model_cfg: ModelConfig, cfg: TrainConfig | dict) -> Split:
    """The dataset a run trains on (``cfg`` a TrainConfig or its saved dict): one image per sample, or
    with frame input T frames per sample."""
    get = (lambda k, d=None: cfg.get(k, d)) if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k))
    frames = model_cfg.timesteps if model_cfg.encoding == "frames" else None
    return load_dataset(get("dataset"), get("data_dir"), get("pixel_bits"), frames=frames,
                        bin_by=get("bin_by", "time"), denoise=get("denoise"), event_pool=get("event_pool"))


def train(model_cfg: ModelConfig, cfg: TrainConfig, out_dir: str | os.PathLike, *, progress: bool = True,
          resume: bool = False, stop_after: int | None = None) -> dict:
    """Train and save a run. ``resume`` continues from ``out_dir/checkpoint.pt``; ``stop_after`` ends the
    call after that many epochs in total (as a kill would; for tests)."""
    data: Split = training_split(model_cfg, cfg)
    if cfg.train_samples is not None:
        if cfg.train_samples < 1:
            raise ConfigError(f"--train-samples must be >= 1, got {cfg.train_samples}")
        data = replace(data, x_train=data.x_train[:cfg.train_samples], y_train=data.y_train[:cfg.train_samples])
    model_cfg = model_config_for(model_cfg, cfg, data)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = BSNN(model_cfg)
    if model.classes != data.classes:
        raise ConfigError(f"--arch must end with {data.classes} classes for {cfg.dataset}, got {model.classes}")
    device, dtype = resolve_device(cfg.device), _dtype(cfg.dtype)
    joined = distributed.init_from_env(device)
    lead = distributed.rank() == 0                     # the rank that writes files and shows progress
    progress = progress and lead
    out_dir = Path(out_dir)
    ensure_dir(out_dir)
    teacher = _teacher(model_cfg, cfg, out_dir, model.classes, progress, resume) if cfg.method == "sei" else None
    model.to(device, dtype)
    if distributed.active():
        distributed.use_global_batch_norm(model)
    step = make_trainer(model, cfg, teacher)
    x_train = torch.as_tensor(data.x_train, device=device)         # (converted a batch at a time)
    y_train = torch.as_tensor(data.y_train, device=device)
    gen = torch.Generator().manual_seed(cfg.seed)
    history, start_epoch = [], 0
    ckpt_path = out_dir / "checkpoint.pt"
    if resume and ckpt_path.is_file():
        start_epoch, history = _load_checkpoint(ckpt_path, model, step, gen, model_cfg, cfg)
    memory = GraphMemory()
    last = min(cfg.epochs, stop_after) if stop_after is not None else cfg.epochs
    bar = tqdm(range(start_epoch, last), desc=f"train {cfg.method}", disable=not progress, unit="epoch",
               initial=start_epoch, total=cfg.epochs)
    for epoch in bar:
        start = time.perf_counter()
        step.begin_epoch(epoch)
        model.train()
        before = _signs(model)
        perm = torch.randperm(len(x_train), generator=gen).to(device)
        flips_per_iter = []
        for b in range(0, len(perm), cfg.batch_size):
            idx, weight = distributed.shard(perm[b:b + cfg.batch_size])
            signs = _signs(model)
            with memory:
                loss = step.batch(x_train[idx].to(dtype), y_train[idx], memory, weight)
            flips_per_iter.append([(a != b).float().mean().item() for a, b in zip(signs, _signs(model))])
        step.end_epoch(epoch + 1)
        seconds = time.perf_counter() - start
        ev = evaluate(model, data.x_test, data.y_test)
        history.append({
            "epoch": epoch + 1, "test_accuracy": ev["accuracy"], "firing_rate": ev["firing_rate"],
            "sops": ev["sops"], "sops_total": float(sum(ev["sops"])), "loss": loss,
            "flip_ratio_epoch": [(a != b).float().mean().item() for a, b in zip(before, _signs(model))],
            "flip_ratio_iteration": np.mean(flips_per_iter, axis=0).tolist() if flips_per_iter[0] else [],
            "peak_graph_mb": memory.peak / 2 ** 20, "peak_rss_mb": peak_rss_mb(), "seconds": seconds,
            **step.epoch_extras()})
        bar.set_postfix(acc=f"{ev['accuracy']:.4f}")
        if lead:
            _save_checkpoint(ckpt_path, epoch + 1, model, step, gen, model_cfg, cfg, history)
    metrics = {"method": cfg.method, "dataset": cfg.dataset, "arch": model_cfg.arch, "timesteps": model_cfg.timesteps,
               "seed": cfg.seed, "device": str(device), "world_size": distributed.world_size(),
               "model_bytes": model_bytes(model),
               "binary_weights": [p.numel() for p in model.binary_parameters()],
               "final_test_accuracy": history[-1]["test_accuracy"] if history else None, "epochs": history}
    model.cpu()
    if lead:
        save_run(out_dir, model, cfg, metrics)
    if joined:
        distributed.leave()
    return metrics


def _dtype(name: str) -> torch.dtype:
    if name not in ("float32", "float64"):
        raise ConfigError(f"--dtype must be float32 or float64, got {name!r}")
    return getattr(torch, name)


def make_trainer(model: BSNN, cfg: TrainConfig, teacher: BSNN | None = None):
    """The per-batch update of ``cfg.method``: ``.batch(x, y, memory)`` trains on one batch."""
    return (_OnlineTrainer if cfg.method in ONLINE else _BPTTTrainer)(model, cfg, teacher)


def _teacher(model_cfg: ModelConfig, cfg: TrainConfig, out_dir: Path, classes: int, progress: bool,
             resume: bool) -> BSNN:
    """SEI's full-precision teacher: a given fp run, or one trained first into ``out_dir/teacher``."""
    path = Path(cfg.teacher) if cfg.teacher else out_dir / "teacher"
    if not cfg.teacher and not (resume and (path / "model.pt").is_file()):
        train(replace(model_cfg, shortcuts=False), replace(cfg, method="fp"), path, progress=progress)
    teacher, _ = load_run(path)
    if teacher.classes != classes or tuple(teacher.cfg.input_shape) != tuple(model_cfg.input_shape):
        raise ConfigError(f"the SEI teacher {path} takes inputs {teacher.cfg.input_shape} into {teacher.classes} "
                         f"classes; the student needs {model_cfg.input_shape} into {classes}")
    return teacher.to(resolve_device(cfg.device), _dtype(cfg.dtype)).eval()


class _BPTTTrainer:
    """fp, stbp, agmm, sei: the whole sequence forward, backpropagation through time, Adam + cosine schedule."""

    def __init__(self, model: BSNN, cfg: TrainConfig, teacher: BSNN | None = None):
        self.model, self.cfg, self.teacher = model, cfg, teacher
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs)

    def epoch_extras(self) -> dict:
        return {}

    def begin_epoch(self, epoch: int) -> None:
        """AGMM: full strength, then annealed linearly to the identity; the last epoch trains without it."""
        if self.model.agmm is None:
            return
        epochs = self.cfg.epochs
        start = min(epochs - 1, round(epochs * (1 - self.cfg.agmm_anneal)))
        mix = 1.0 if epoch < start else 1 - (epoch - start + 1) / (epochs - start)
        for m in self.model.agmm:
            m.mix.fill_(max(0.0, mix))

    def batch(self, x, y, memory: GraphMemory, weight: float = 1.0) -> float:
        """One update on (x, y); ``weight`` scales the loss (data parallel: this rank's share)."""
        T = self.model.cfg.timesteps
        out, _ = self.model(x)
        loss = F.cross_entropy(out / T, y)
        if self.teacher is not None:
            w, tau = self.cfg.kd_weight, self.cfg.kd_temperature
            with torch.no_grad():
                target = F.softmax(self.teacher(x)[0] / self.teacher.cfg.timesteps / tau, dim=1)
            kd = F.kl_div(F.log_softmax(out / T / tau, dim=1), target, reduction="batchmean") * tau ** 2
            loss = (1 - w) * loss + w * kd
        memory.mark()
        self.opt.zero_grad()
        (loss * weight).backward()
        distributed.sync_gradients(self.model.parameters())
        self.opt.step()
        with torch.no_grad():                  # keep latent weights where the STE passes gradients
            for op in self.model.layers():
                if op.mode == "ste":
                    op.weight.clamp_(-1, 1)
        return loss.item()

    def end_epoch(self, epoch: int) -> None:
        self.sched.step()

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(), "sched": self.sched.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])


class _OnlineTrainer:
    """bso and tbso: one forward and backward per time step (no BPTT), the binary update after each."""

    def __init__(self, model: BSNN, cfg: TrainConfig, teacher: BSNN | None = None):
        self.model, self.cfg = model, cfg
        T = model.cfg.timesteps
        if cfg.method == "bso":
            self.bin = BSO(model.binary_parameters(), gamma=cfg.gamma, beta=cfg.beta1,
                           reset_momentum=cfg.reset_momentum)
        elif cfg.method == "bso-int":
            self.bin = IntBSO(model.binary_parameters(), gamma=cfg.gamma, beta=cfg.beta1,
                              momentum_bits=cfg.int_momentum_bits, grad_shift_bits=cfg.int_grad_shift_bits,
                              stochastic=cfg.stochastic_rounding, reset_momentum=cfg.reset_momentum,
                              generator=torch.Generator().manual_seed(cfg.seed))
        else:
            self.bin = TBSO(model.binary_parameters(), gamma=cfg.gamma, betas=(cfg.beta1, cfg.beta2), timesteps=T)
        self.fp = torch.optim.SGD(model.float_parameters(), lr=cfg.fp_lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.fp, T_max=cfg.epochs)

    def begin_epoch(self, epoch: int) -> None:
        pass

    def epoch_extras(self) -> dict:
        """bso-int: how often the integer rule and float BSO (run in its shadow) agree on a flip, so far."""
        return {"flip_agreement": self.bin.agreement()} if isinstance(self.bin, IntBSO) else {}

    def batch(self, x, y, memory: GraphMemory, weight: float = 1.0) -> float:
        T, w = self.model.cfg.timesteps, self.cfg.mse_weight
        onehot = F.one_hot(y, self.model.classes).float()
        state, total = None, 0.0
        for t in range(T):
            o, state = self.model.online_step(x, state, self.cfg.trace, t)
            loss = ((1 - w) * F.cross_entropy(o, y) + w * F.mse_loss(o, onehot)) / T
            memory.mark()
            self.fp.zero_grad()
            self.bin.zero_grad()
            (loss * weight).backward()
            distributed.sync_gradients(self.model.parameters())
            self.fp.step()
            self.bin.step(t)
            total += loss.item()
        return total

    def end_epoch(self, epoch: int) -> None:
        self.sched.step()
        if self.cfg.decay_every and epoch % self.cfg.decay_every == 0:
            for group in self.bin.param_groups:
                group["gamma"] *= 0.1
                if "beta" in group:
                    group["beta"] = 1 - (1 - group["beta"]) * 0.1
                else:
                    group["betas"] = (1 - (1 - group["betas"][0]) * 0.1, group["betas"][1])

    def state_dict(self) -> dict:
        return {"bin": self.bin.state_dict(), "fp": self.fp.state_dict(), "sched": self.sched.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.bin.load_state_dict(state["bin"])
        self.fp.load_state_dict(state["fp"])
        self.sched.load_state_dict(state["sched"])


def _save_checkpoint(path: Path, epoch: int, model: BSNN, step, gen: torch.Generator, model_cfg: ModelConfig,
                     cfg: TrainConfig, history: list) -> None:
    state = {"epoch": epoch, "model": model.state_dict(), "trainer": step.state_dict(),
             "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
             "config": {"model": model_cfg.to_dict(), "train": vars(cfg)}, "history": history}
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def _load_checkpoint(path: Path, model: BSNN, step, gen: torch.Generator, model_cfg: ModelConfig,
                     cfg: TrainConfig) -> tuple[int, list]:
    ckpt = torch.load(path, map_location=next(model.parameters()).device, weights_only=True)
    want = {"model": model_cfg.to_dict(), "train": vars(cfg)}
    if json.dumps(ckpt["config"], sort_keys=True) != json.dumps(want, sort_keys=True):
        raise ConfigError(f"{path} was written by a run with other settings; resume with the same options, "
                         "or train into a new --out directory")
    model.load_state_dict(ckpt["model"])
    step.load_state_dict(ckpt["trainer"])
    gen.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["torch_rng"])
    return ckpt["epoch"], ckpt["history"]


def save_run(out_dir: Path, model: BSNN, cfg: TrainConfig, metrics: dict) -> None:
    state = {"model_config": model.cfg.to_dict(), "train_config": vars(cfg), "state_dict": model.state_dict()}
    write_atomic(out_dir / "model.pt", lambda tmp: torch.save(state, tmp))
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    write_text_atomic(out_dir / "config.json", json.dumps({"model": model.cfg.to_dict(), "train": vars(cfg)}, indent=1) + "\n")


def load_run(run_dir: str | os.PathLike) -> tuple[BSNN, dict]:
    path = Path(run_dir) / "model.pt"
    if not path.is_file():
        raise MissingFileError(f"{path} not found; train a model first with `flipspike train --out {run_dir}`")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = BSNN(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt
