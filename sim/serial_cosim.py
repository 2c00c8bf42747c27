"""The serial co-simulation: the board top (accelerator + UART host link) under Verilator, behind a
pseudo-terminal, driven by the same pyserial driver that talks to a real board.

    with simulated_board(desc, folds) as board:     # a flipspike.host.driver.Board
        obs = board.infer(pixels)

Every byte crosses the UART pins bit by bit (see :mod:`flipspike.sim.bench_uart`), so the frame
encoder, the CRC, the RTL's parser and error handling, and the reply decoder are all exercised.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path

from flipspike.hw.verilog import HOST_TOP, generate
from flipspike.ir.aer import EventFormat
from flipspike.ir.learning import Learning
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold

from .verilator import SimulationFailed, build, find_verilator, run_cocotb

BENCH_MODULE = "flipspike.sim.bench_uart"
#: Simulated UART: clock cycles per bit (a fast line, so simulations stay short) and frame timeout.
SIM_DIVISOR = 8
SIM_TIMEOUT = 4096


def build_host_top(desc: NetDesc, folds: list[Fold], learn: Learning | None = None, *,
                   build_root: str | Path = "build", divisor: int = SIM_DIVISOR, timeout: int = SIM_TIMEOUT,
                   aer: EventFormat | None = None) -> Path:
    """Generate and Verilate the host-link top (cached by content); returns the build directory."""
    find_verilator()
    build_root = Path(build_root)
    design = generate(desc, folds, build_root / "designs" / "host", learn, host={"divisor": divisor, "timeout": timeout},
                      aer=aer)
    return build(design.verilog, design.waivers, HOST_TOP, build_root / "verilator")


@contextlib.contextmanager
def simulated_board(desc: NetDesc, folds: list[Fold], learn: Learning | None = None, *,
                    build_root: str | Path = "build", divisor: int = SIM_DIVISOR, timeout: int = SIM_TIMEOUT,
                    reply_timeout: float = 30.0, quiet: bool = True, aer: EventFormat | None = None):
    """A :class:`~flipspike.host.driver.Board` connected to the simulated board top (``aer``: one that takes
    events)."""
    from flipspike.host.driver import Board

    build_dir = build_host_top(desc, folds, learn, build_root=build_root, divisor=divisor, timeout=timeout,
                               aer=aer)
    with tempfile.TemporaryDirectory(prefix="flipspike-serial-") as tmp:
        tmp = Path(tmp)
        pty_file, stop_file = tmp / "pty", tmp / "stop"
        failure: list[BaseException] = []

        def run():
            try:
                run_cocotb(build_dir, HOST_TOP, BENCH_MODULE, tmp,
                           {"FLIPSPIKE_PTY": str(pty_file), "FLIPSPIKE_STOP": str(stop_file),
                            "FLIPSPIKE_DIVISOR": str(divisor)}, quiet=quiet)
            except BaseException as exc:                  # reported by the main thread
                failure.append(exc)

        thread = threading.Thread(target=run, name="flipspike-serial-sim", daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not pty_file.exists():
            if not thread.is_alive() or time.monotonic() > deadline:
                stop_file.touch()
                raise failure[0] if failure else SimulationFailed("the serial co-simulation did not start")
            time.sleep(0.02)
        board = None
        try:
            board = Board(pty_file.read_text(), desc, folds, learn, timeout=reply_timeout, aer=aer)
            yield board
        finally:
            if board is not None:
                board.close()
            stop_file.touch()
            thread.join(timeout=60)
        if failure:
            raise failure[0]
