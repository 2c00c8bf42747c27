"""flipspike: an FPGA accelerator generator for binary spiking neural networks.

Sub-packages (each a top-level folder of the repository):

* ``flipspike.sw``  -- PyTorch golden model: training and the integer reference.
* ``flipspike.gen`` -- integer network description -> Verilog, reports, the CLI.
* ``flipspike.hw``  -- Amaranth HDL cores (no torch here).
* ``flipspike.sim`` -- cocotb + Verilator co-simulation against the integer reference.

``flipspike.formats`` is the one place where every number format and width is defined;
sw and hw both import it.
"""

__version__ = "0.1.0"
