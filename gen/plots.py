"""PNG plots of training curves (matplotlib, headless)."""

from __future__ import annotations

import os
from pathlib import Path

from flipspike.ir.files import write_atomic


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path: Path) -> Path:
    """Write, then rename: a crash never leaves half an image."""
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"), suffix=".png")


def plot_curves(summary: dict, out: str | os.PathLike) -> list[Path]:
    """accuracy.png and flip_ratio.png: one line per method, against the epoch."""
    plt = _figure()
    out = Path(out)
    paths = []
    for key, ylabel, name, log in (("test_accuracy", "test accuracy", "accuracy.png", False),
                                   ("flip_ratio", "weight sign-flip ratio per epoch", "flip_ratio.png", True)):
        fig, ax = plt.subplots(figsize=(6, 4))
        for method, row in summary["methods"].items():
            ys = row["curves"][key]
            if log and not any(ys):
                continue                                    # fp: no binary weights
            ax.plot(range(1, len(ys) + 1), ys, label=method, marker="." if len(ys) < 40 else None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_title(f"{summary['dataset']} {summary['arch']} T={summary['timesteps']}")
        ax.grid(alpha=0.3)
        ax.legend()
        paths.append(save_png(fig, out / name))
        plt.close(fig)
    return paths
