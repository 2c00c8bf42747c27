"""cocotb bench: the host-link top behind a pseudo-terminal, bit by bit on its UART pins.

The bench opens a pty and writes the slave's path to ``FLIPSPIKE_PTY``; the host driver opens that path
with pyserial exactly as it would open a board's USB serial port. Bytes the host writes are shifted into
``rx`` as 8N1 frames, ``divisor`` clock cycles per bit; ``tx`` is sampled in the middle of each bit and
decoded bytes go back to the host. While the link is idle or waiting for the rest of a frame and no
host byte is there, the bench waits (wall-clock) for the host before letting simulated time run on, so
a slow host never trips the frame timeout; once nothing arrives for a while, time runs on so that a
truncated frame does time out. The bench ends when ``FLIPSPIKE_STOP`` exists. Runs inside the
simulator; imports neither torch nor Amaranth.
"""

from __future__ import annotations

import os
import select
import tty

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

CLOCK_NS = 10
LINK_BUSY = 2             # flipspike.hw.host_link.LINK_BUSY (a request executes or its reply is sent)
HOST_WAIT_S = 0.005       # wall-clock wait for host bytes per slice of idle simulated time


@cocotb.test()
async def serial_bridge(dut):
    divisor = int(os.environ["FLIPSPIKE_DIVISOR"])
    stop_file = os.environ["FLIPSPIKE_STOP"]
    master, slave = os.openpty()
    tty.setraw(slave)
    tmp = os.environ["FLIPSPIKE_PTY"] + ".tmp"
    with open(tmp, "w") as f:
        f.write(os.ttyname(slave))
    os.replace(tmp, os.environ["FLIPSPIKE_PTY"])
    state = {"tx_busy": False}

    async def send_byte(value: int):
        for bit in [0] + [(value >> i) & 1 for i in range(8)] + [1]:
            dut.rx.value = bit
            await ClockCycles(dut.clk, divisor)

    async def receive():
        while True:
            await FallingEdge(dut.tx)
            state["tx_busy"] = True
            await ClockCycles(dut.clk, divisor // 2)
            if dut.tx.value:
                state["tx_busy"] = False
                continue                                   # a glitch, not a start bit
            value = 0
            for i in range(8):
                await ClockCycles(dut.clk, divisor)
                value |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, divisor)
            assert dut.tx.value == 1, "framing error on tx: stop bit low"
            os.write(master, bytes([value]))
            state["tx_busy"] = False

    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    cocotb.start_soon(receive())
    while not os.path.exists(stop_file):
        busy = int(dut.status.value) == LINK_BUSY or state["tx_busy"]
        ready, _, _ = select.select([master], [], [], 0 if busy else HOST_WAIT_S)
        if ready:
            for value in os.read(master, 4096):
                await send_byte(value)
        else:
            await ClockCycles(dut.clk, 16 * divisor)
    os.close(slave)
    os.close(master)
