"""The AER input port (issue 20): events in, frames filled on chip. Held against a plain loop of the
port's rules and, in Amaranth's simulator, the whole accelerator against the reference run on the frames
the rules make: results, counters (distinct inputs, not events), cycles and dropped events."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flipspike.ir import Fold
from flipspike.ir.aer import EventFormat, accepted, frames_from_events
from flipspike.ir.cycle_model import sample_cycles
from flipspike.ir.errors import ConfigError
from flipspike.sim.compare import compare
from flipspike.sim.pysim import run_pysim
from flipspike.sw.integer import run_integer

from helpers import random_conv_desc, random_desc


def plain_frames(events, height, width, timesteps, pool):
    """The port's rules, event by event: a frame per step of 0/1 per (y, x, polarity), HWC."""
    frames = [[[[0, 0] for _ in range(width)] for _ in range(height)] for _ in range(timesteps)]
    step, dropped = 0, 0
    for x, y, p, t in events:
        if x >= width * pool or y >= height * pool or t >= timesteps or t < step:
            dropped += 1
            continue
        step = t
        frames[t][y // pool][x // pool][p] = 1
    flat = [v for frame in frames for row in frame for pixel in row for v in pixel]
    return flat, dropped


def random_events(rng, fmt: EventFormat, n: int, bad: float = 0.1) -> np.ndarray:
    """n events in time order over the sensor, a fraction ``bad`` outside it or out of order, duplicates
    likely (few pixels)."""
    h, w = fmt.sensor
    t = np.sort(rng.integers(0, fmt.timesteps, n))
    ev = np.stack([rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n), t], axis=1)
    for k in np.flatnonzero(rng.random(n) < bad):
        kind = rng.integers(0, 4)
        if kind == 0:
            ev[k, 0] = w + rng.integers(0, 2)                     # outside the sensor
        elif kind == 1:
            ev[k, 1] = h
        elif kind == 2:
            ev[k, 3] = fmt.timesteps                              # beyond the last step
        elif k > 0:
            ev[k, 3] = max(0, ev[k - 1, 3] - 1)                   # (possibly) out of time order
    return ev


def test_the_reference_frames_follow_the_rules():
    rng = np.random.default_rng(0)
    fmt = EventFormat(3, 4, 5, pool=2)
    for n in (0, 1, 40, 200):
        ev = random_events(rng, fmt, n, bad=0.3)
        want, dropped = plain_frames(ev.tolist(), 3, 4, 5, 2)
        assert frames_from_events([ev], fmt)[0].tolist() == want
        assert int((~accepted(ev, fmt)).sum()) == dropped


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2 ** 31), T=st.integers(1, 4), pool=st.sampled_from([1, 2, 4]), conv=st.booleans(),
       counts=st.lists(st.integers(0, 40), min_size=2, max_size=3))
def test_events_in_give_what_the_frames_give(seed, T, pool, conv, counts):
    """Random networks fed events (duplicates, empty samples, events dropped for every reason), the first
    layer event-driven half the time: classes, accumulations, input and SOP counters equal the reference
    on the frames the port's rules make, busy cycles equal the model, and every refused event is counted."""
    rng = np.random.default_rng(seed)
    h, w = 3, 4
    if conv:
        desc = random_conv_desc(rng, (h, w, 2), [{"channels": 2, "kernel": 3, "padding": 1}], 2, timesteps=T,
                                input_bits=1, encoding="frames")
        simd = int(rng.choice([1, 2]))
    else:
        desc = random_desc(rng, [h * w * 2, 4, 2], timesteps=T, input_bits=1, encoding="frames")
        desc.input.shape = (h, w, 2)
        simd = int(rng.choice([1, 2, 4, 8]))
    desc.validate()
    folds = [Fold(simd, 2, bool(rng.random() < 0.5)), *[Fold(1, layer.n_out) for layer in desc.layers[1:]]]
    fmt = EventFormat.of(desc, pool)
    samples = [random_events(rng, fmt, n) for n in counts]
    ref = run_integer(desc, frames_from_events(samples, fmt))
    observed = run_pysim(desc, folds, samples, aer=fmt)
    assert compare(ref, observed) == []
    for obs, want in zip(observed["samples"], sample_cycles(desc, folds, ref)):
        assert [c["cycles"] for c in obs["counters"]] == [w["cycles"] for w in want]
        assert [c["skipped"] for c in obs["counters"]] == [w["skipped"] for w in want]
    refused = sum(int((~accepted(ev, fmt)).sum()) for ev in samples)
    assert observed["aer_dropped"] == 2 * refused                     # (one at a time, then back to back)


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_what_cannot_take_events_is_refused():
    from flipspike.hw.event_frames import EventFrames
    rng = np.random.default_rng(1)
    direct = random_conv_desc(rng, (3, 4, 2), [{"channels": 2, "kernel": 3}], 2, timesteps=2, input_bits=1)
    with pytest.raises(ConfigError, match="frame input"):
        EventFormat.of(direct)
    frames = random_conv_desc(rng, (3, 4, 2), [{"channels": 2, "kernel": 3}], 2, timesteps=2, input_bits=1,
                              encoding="frames")
    with pytest.raises(ConfigError, match="power of two"):
        EventFormat.of(frames, pool=3)
    with pytest.raises(ConfigError, match="SIMD"):
        EventFrames(EventFormat.of(frames), simd=3)


def test_an_aer_build_passes_lint(tmp_path):
    from flipspike.hw.verilog import generate
    from flipspike.sim.lint import lint
    desc = random_conv_desc(np.random.default_rng(2), (4, 4, 2), [{"channels": 4, "kernel": 3, "padding": 1,
                                                                  "pool": 2}], 3, timesteps=4, input_bits=1,
                            encoding="frames")
    design = generate(desc, [Fold(2, 2, True), Fold(4, 3)], tmp_path / "rtl", aer=EventFormat.of(desc, 2))
    assert set(design.config["ports"]["events"]) == {"x", "y", "p", "t", "end"}
    report = lint(design.dir)
    assert report.ok, report


@pytest.mark.parametrize("bench", ["cocotb", "compiled"])
def test_events_through_the_verilog(bench, build_root):
    """The generated Verilog with its AER port, under Verilator (each bench sends the event words: cocotb's,
    and the compiled one in two processes): 0 mismatches against the reference on the frames the rules make,
    the cycle model exact, every refused event counted (once a sample alone, once streamed)."""
    from flipspike.sim.cosim import cosim
    rng = np.random.default_rng(7)
    desc = random_conv_desc(rng, (4, 4, 2), [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2}], 3,
                            timesteps=4, input_bits=1, encoding="frames")
    fmt = EventFormat.of(desc, 2)
    samples = [random_events(rng, fmt, n) for n in (0, 5, 30, 60, 12, 45)]
    report = cosim(desc, [Fold(2, 2, True), Fold(4, 3)], samples, build_root=build_root, aer=fmt, bench=bench,
                   shards=2 if bench == "compiled" else None)
    assert report["mismatches"] == 0, report["mismatch_details"]
    assert report["cycle_model_mismatches"] == 0 and report["simulator"] == f"verilator, {bench} bench"
    assert report["aer_dropped"] == 2 * sum(int((~accepted(ev, fmt)).sum()) for ev in samples) > 0


def test_events_made_from_frames_make_those_frames():
    """The co-simulation's event source for frame data: the port's rules give the frames back, steps in
    order, every event inside the sensor, different orders for different seeds; counts are refused."""
    from flipspike.ir.aer import events_from_frames
    rng = np.random.default_rng(3)
    fmt = EventFormat(3, 5, 4, pool=4)
    frames = (rng.random((20, 4 * 3 * 5 * 2)) < 0.3).astype(np.int64)
    events = events_from_frames(frames, fmt, seed=1)
    assert np.array_equal(frames_from_events(events, fmt), frames)
    for ev in events:
        assert accepted(ev, fmt).all() and (np.diff(ev[:, 3]) >= 0).all()
        assert len(ev) == len({tuple(e) for e in ev[:, [0, 1, 2, 3]] // [4, 4, 1, 1]})
    assert any(not np.array_equal(a, b) for a, b in zip(events, events_from_frames(frames, fmt, seed=2)))
    with pytest.raises(ConfigError, match="counts"):
        events_from_frames(frames * 2, fmt)


def test_event_words_are_packed_as_the_port_map_says(tmp_path):
    """ir.aer's packing (what the host driver sends) against the generated port map's offsets (what the
    Verilog has, as the benches read it); values a field cannot hold are refused, not wrapped; the host-link
    top of an AER build passes lint."""
    from flipspike.hw.verilog import generate
    from flipspike.ir.errors import DataError
    from flipspike.sim.lint import lint
    from flipspike.sim.samples import event_words
    rng = np.random.default_rng(4)
    desc = random_conv_desc(rng, (3, 5, 2), [{"channels": 2, "kernel": 3}], 2, timesteps=5, input_bits=1,
                            encoding="frames")
    fmt = EventFormat.of(desc, 4)
    events = random_events(rng, fmt, 50)
    design = generate(desc, [Fold(2, 2), Fold(2, 2)], tmp_path / "rtl", aer=fmt,
                      host={"divisor": 8, "timeout": 64})
    assert fmt.pack(events) == event_words(events.tolist(), design.config["ports"])
    with pytest.raises(DataError, match="x is outside"):
        fmt.pack([[1 << fmt.widths["x"], 0, 0, 0]])
    report = lint(design.dir)
    assert report.ok, report


def test_planning_for_an_aer_build_gives_the_port_a_simd_it_takes():
    """Default and planned foldings of a 200-input frame-fed layer (default SIMD 10): a power of two
    dividing 200 once the build takes events, announced; and the estimate counts the port's flags, which
    shrink as SIMD grows."""
    import flipspike as fs
    from flipspike.gen.estimate import estimate
    desc = random_desc(np.random.default_rng(6), [200, 16, 4], timesteps=4, input_bits=1, encoding="frames")
    assert fs.plan(desc).folds[0].simd == 10
    plan = fs.plan(desc, aer=True)
    assert plan.folds[0].simd == 8 and any("AER port" in note for note in plan.notes)
    for budget in (2500, 6000):
        simd = fs.plan(desc, lut_budget=budget, aer=True).folds[0].simd
        assert simd & (simd - 1) == 0 and 200 % simd == 0
    cost = lambda simd: (estimate(desc, [Fold(simd, 4), Fold(4, 4)], aer=True)["total"]["lut4"]
                         - estimate(desc, [Fold(simd, 4), Fold(4, 4)])["total"]["lut4"])
    assert cost(1) > cost(8) > 0
