"""The accelerator as Verilog: from description + folding to a generated design directory.

    DIR/flipspike_top.v        the accelerator (Amaranth -> Verilog)
    DIR/amaranth_waivers.vlt   the one lint waiver file (Amaranth code-generation artefacts)
    DIR/config.json            folding, widths, port map (bit offsets of every field), cycle model

The directory is written next to its final place and renamed into it, so a failure never leaves half a
design, and an existing DIR is replaced only once the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

from flipspike.ir import NetDesc
from flipspike.ir.aer import EventFormat
from flipspike.ir.cycle_model import layer_cycles
from flipspike.ir.files import write_dir_atomic
from flipspike.ir.folding import Fold
from flipspike.ir.learning import Learning
from flipspike.ir.memory_map import build_shape, bus_widths, memory_map
from flipspike.ir.plan import NetPlan, input_simd

from .accelerator import Accelerator, check_supported
from .board_top import HostTop
from .event_frames import event_layout
from .interfaces import CounterLayout, result_layout

TOP = "flipspike_top"
HOST_TOP = "flipspike_host"      # the accelerator behind the UART host link (serial co-simulation)
WAIVERS = Path(__file__).with_name("amaranth_waivers.vlt")


@dataclass
class Design:
    dir: Path
    verilog: Path
    waivers: Path
    config: dict

    @property
    def digest(self) -> str:
        return self.config["verilog_sha256"]


def port_map(desc: NetDesc, folds: list[Fold], learn: Learning | None = None, aer: EventFormat | None = None) -> dict:
    """Bit offsets of every field of the top's ports, for benches that see only flat Verilog vectors."""
    out = desc.layers[-1]
    res = result_layout(out.n_out, out.widths.state)
    cls_f, acc_f = res["cls"], res["acc"]
    acc_w = out.widths.state
    inputs = ({"pixels": {"simd": input_simd(desc, folds), "bits": desc.input.bits}} if aer is None else
              {"events": {name: [field.offset, field.shape.width] for name, field in event_layout(aer)}})
    return {
        **inputs,
        "result": {"cls": [cls_f.offset, cls_f.shape.width],
                   "acc": [[acc_f.offset + k * acc_w, acc_w] for k in range(out.n_out)], "acc_signed": True},
        "counters": [{name: [i * CounterLayout.size + field.offset, field.shape.width] for name, field in CounterLayout}
                     for i in range(len(desc.layers))],
        "load": dict(zip(("addr_width", "data_width"), bus_widths(desc, folds, learn))),
        "learn": None if learn is None else learn.as_dict(),
    }


def elaborate_verilog(desc: NetDesc, folds: list[Fold], learn: Learning | None = None,
                      host: dict | None = None, vendor: str | None = None, aer: EventFormat | None = None) -> str:
    """The accelerator's Verilog, or with ``host`` ({"divisor", "timeout"}: UART clock cycles per bit,
    frame timeout in cycles) the host-link top's. ``vendor``: the device family the netlist is for
    ("ice40": SPRAM weights as SB_SPRAM256KA instances; "ecp5"; None: what simulation runs, see
    :class:`flipspike.hw.layer_engine.LayerEngine`). ``aer``: the input is an AER port of that format
    (:mod:`flipspike.ir.aer`) instead of the pixel stream."""
    if host is not None:
        top = HostTop(desc, folds, learn, divisor=host["divisor"], timeout=host["timeout"], vendor=vendor, aer=aer)
        return verilog.convert(top, name=HOST_TOP, emit_src=False)
    return verilog.convert(Accelerator(desc, folds, learn, vendor=vendor, aer=aer), name=TOP, emit_src=False)


def generate(desc: NetDesc, folds: list[Fold], out_dir: str | os.PathLike, learn: Learning | None = None,
             host: dict | None = None, vendor: str | None = None, aer: EventFormat | None = None) -> Design:
    """``vendor``, ``aer``: see :func:`elaborate_verilog` (None: the design simulation runs)."""
    desc.validate()
    check_supported(desc, learn)
    NetPlan(desc, folds, learn).check_size()        # (the folding too: refused before any elaboration)
    text = elaborate_verilog(desc, folds, learn, host, vendor, aer)
    config = {
        "top": TOP if host is None else HOST_TOP,
        "vendor": vendor,
        "host_link": host,
        "timesteps": desc.timesteps,
        "folding": [{"layer": l.name, "simd": f.simd, "pe": f.pe, "event": f.event, "spram": f.spram}
                    for l, f in zip(desc.layers, folds)],
        "layers": [{"name": l.name, "kind": l.kind, "n_in": l.n_in, "n_out": l.n_out, "widths": l.widths.as_dict()}
                   for l in desc.layers],
        "ports": port_map(desc, folds, learn, aer),
        "aer": None if aer is None else {"pool": aer.pool, "sensor": list(aer.sensor)},
        "memory_map": [{"layer": desc.layers[r.layer].name, "memory": r.memory, "base": r.base, "depth": r.depth,
                        "width": r.width} for r in memory_map(desc, folds, learn)],
        "shape": build_shape(desc, folds),
        "cycle_model": layer_cycles(desc, folds),
        "verilog_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    files = {f"{config['top']}.v": text, WAIVERS.name: WAIVERS.read_text(), "config.json": json.dumps(config, indent=1) + "\n"}
    final = write_dir_atomic(out_dir, files)
    return Design(final, final / f"{config['top']}.v", final / WAIVERS.name, config)


def load_design(path: str | os.PathLike) -> Design:
    path = Path(path)
    config = json.loads((path / "config.json").read_text())
    return Design(path, path / f"{config['top']}.v", path / WAIVERS.name, config)
