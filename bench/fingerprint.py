"""Fingerprints of generated designs and of every planning figure: run before and after a refactor.

    python bench/fingerprint.py [--out FILE]

Elaborates a fixed set of designs (MLPs at several foldings, event-driven layers, convolutions with
padding, pooling and shortcuts, on-chip learning with BSO and T-BSO, the host-link top) and prints, per
design, the SHA-256 of its Verilog, of its config.json's planning content (port map, memory map, build
shape, cycle model), of the resource estimate on both devices, of the host link's layout and of the
per-sample cycle model on random inputs. Equal fingerprints before and after a change mean the
hardware (and so its LUT4/FF/BRAM counts and Fmax) and every figure the planners print are unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import random_conv_desc, random_desc, random_pixels  # noqa: E402

import flipspike as fs  # noqa: E402
from flipspike.ir.cycle_model import layer_cycles, sample_cycles  # noqa: E402
from flipspike.hw.verilog import generate  # noqa: E402
from flipspike.gen.estimate import estimate  # noqa: E402
from flipspike.ir import parse_folding  # noqa: E402
from flipspike.ir.host_protocol import link_layout  # noqa: E402
from flipspike.ir.learning import FlipRule, Learning  # noqa: E402
from flipspike.sw.integer import run_integer  # noqa: E402


def designs():
    rng = np.random.default_rng(7)
    mlp = random_desc(rng, [16, 12, 8, 4], timesteps=4)
    conv = random_conv_desc(rng, (6, 6, 2), [dict(channels=4, kernel=3, padding=1, pool=2),
                                             dict(channels=4, kernel=3, padding=1, shortcut=True)], 3, timesteps=3)
    conv2 = random_conv_desc(rng, (5, 5, 2), [dict(channels=4, kernel=3, stride=2, padding=1)], 3, timesteps=2)
    t1 = random_desc(rng, [8, 6, 4], timesteps=1, reset="soft")
    return [
        ("mlp 1x1", mlp, "1x1,1x1,1x1", None, None),
        ("mlp 16x4", mlp, "16x4,12x8,8x4", None, None),
        ("mlp 4x2 event", mlp, "4x2,1x4e,2x2e", None, None),
        ("mlp 8x6 unrolled", mlp, "16x12,12x8,8x4", None, None),
        ("conv 2x2 event", conv, "2x2,1x2e,2x3e", None, None),
        ("conv 1x4", conv, "1x4,4x4,4x3", None, None),
        ("conv stride", conv2, "2x1,4x3", None, None),
        ("t1 soft", t1, "8x2,2x4", None, None),
        ("learn bso", mlp, "4x4,4x4,4x2", Learning(2, FlipRule()), None),
        ("learn tbso", mlp, "4x4,4x4,4x2", Learning(2, FlipRule(tbso=True)), None),
        ("host top", mlp, "4x4,4x4,4x2", None, {"divisor": 4, "timeout": 1000}),
    ]


def sha(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(name, desc, fold, learn, host, tmp: Path) -> dict:
    folds = parse_folding(fold, desc.layers)
    design = generate(desc, folds, tmp / name.replace(" ", "_"), learn, host)
    config = {k: v for k, v in design.config.items() if k != "verilog_sha256"}
    x = random_pixels(np.random.default_rng(1), desc, 6)
    ref = run_integer(desc, x)
    return {"verilog": design.config["verilog_sha256"][:16], "config": sha(config),
            "estimate": sha([estimate(desc, folds, device=d, host_link=host is not None)
                             for d in ("up5k", "ecp5-85f")]),
            "link": sha(link_layout(desc, folds, learn).__dict__),
            "cycles": sha([layer_cycles(desc, folds), sample_cycles(desc, folds, ref)])}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="also write the fingerprints here as JSON")
    args = p.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, desc, fold, learn, host in designs():
            rows[name] = fingerprint(name, desc, fold, learn, host, Path(tmp))
            print(f"{name:18s} " + " ".join(f"{k}={v}" for k, v in rows[name].items()), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"flipspike {fs.__version__}: {len(rows)} designs")


if __name__ == "__main__":
    main()
