"""flipspike: an FPGA accelerator generator for binary spiking neural networks.

``import flipspike as fs`` gives the Python API (:mod:`flipspike.api`: train, export, plan, generate,
cosim, synth, build, import_nir, export_nir), loaded on first use so that importing a sub-package stays
light. Sub-packages (each a top-level folder of the repository):

* ``flipspike.ir``   -- the integer network description and the plan of a build (numpy only): number
  formats (``ir.formats``), the per-layer plan (``ir.plan``), the cycle model, the memory map, the host
  protocol.
* ``flipspike.sw``   -- PyTorch golden model: training and the integer reference.
* ``flipspike.hw``   -- Amaranth HDL cores and the accelerator's Verilog (no torch here).
* ``flipspike.gen``  -- planners, synthesis, bitstreams, reports, NIR.
* ``flipspike.sim``  -- cocotb + Verilator co-simulation against the integer reference.
* ``flipspike.host`` -- the board driver (pyserial; neither torch nor Amaranth).
"""

__version__ = "0.1.0"

_API = ("load", "train", "export", "plan", "generate", "lint", "synth", "build", "cosim", "learn", "waves", "board",
        "import_nir", "export_nir", "dataset", "test_split", "train_configs", "TrainResult", "ExportResult", "Plan",
        "SynthResult", "BuildResult", "CosimResult", "LearnResult", "WavesResult", "NirImport")


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    if name in ("FlipspikeError", "DescriptionError", "FoldingError", "ConfigError", "DataError"):
        from .ir import errors
        return getattr(errors, name)
    raise AttributeError(f"module 'flipspike' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
