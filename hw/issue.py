"""The issue stage of a layer engine: the walk over a step's neuron groups and input words, in hardware.

:class:`IssueStage` issues one (neuron group, input word) pair per cycle while a step runs: its counters
(:class:`GroupWalk`), for event-driven layers the jump to the next word holding a spike
(:class:`EventSkip`), the time step and, in the first layer, the synapse phase. Whether a step may
start (``ready_wait``) or follow the last one directly (``ready_next``) is the engine's to decide: it
sees the pipeline behind the issue and the output's free banks. Each issued word leaves as ``word``,
the flags the engine's :class:`~flipspike.hw.flags.FlagPipeline` carries down the pipeline.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.plan import LayerPlan

from .interfaces import input_address


def issue_layout(plan: LayerPlan) -> data.StructLayout:
    """One issued word's flags: ``valid`` (a word issues), ``first`` / ``last`` (of its neuron group),
    ``nf`` (channel group), ``group`` (membrane word), ``out_word`` (output spike word), ``in_bounds``
    (the input word lies inside the map: not padding; a bit per read port), ``sf`` (the word),
    ``sub_first`` / ``sub_last`` (first / last position of a pooling window), ``t0`` / ``tlast`` (step 0 /
    the last step), ``end`` (the step's last word), ``commit`` (``end`` of a step that writes spikes),
    ``syn`` (the first layer's synapse phase)."""
    return data.StructLayout({
        "valid": 1, "first": 1, "last": 1, "nf": range(max(2, plan.f_out)), "group": range(max(2, plan.groups)),
        "out_word": range(max(2, plan.out_words)), "in_bounds": plan.ports, "sf": range(max(2, plan.f_in)),
        "sub_first": 1, "sub_last": 1, "t0": 1, "tlast": 1, "end": 1, "commit": 1, "syn": 1})


class IssueStage(wiring.Component):
    """Stage A of a layer engine: one word per cycle of a step's walk (see the module's docstring).

    Ports: ``ready_wait`` (a step may start now, from waiting), ``ready_next`` (the next step may issue
    right behind this one's last word), ``nonzero`` (event-driven: one bit per input word holding a
    spike) in; ``word`` (the issued word's flags, ``valid`` low between steps), ``waddr`` (its weight
    word, nf*F_in + sf), ``in_addr`` (its input word; an array, a word per read port, where the plan has
    several), ``release`` (the step's input is consumed: a pulse with its last word), ``t`` (the step), ``syn`` (the first layer: the next word belongs to the
    synapse phase; 1 after reset), ``skipped`` (event-driven: words jumped over by this issue) out.
    """

    def __init__(self, plan: LayerPlan):
        self.plan = plan
        members = {"ready_wait": In(1), "ready_next": In(1),
                   "word": Out(issue_layout(plan)),
                   "waddr": Out(range(max(2, plan.f_out * plan.f_in))),
                   "in_addr": Out(input_address(plan.in_words, plan.ports)),
                   "release": Out(1),
                   "t": Out(range(max(2, plan.timesteps))),
                   "syn": Out(1, init=int(plan.first))}
        if plan.event:
            members |= {"nonzero": In(plan.in_words), "skipped": Out(range(plan.f_in + 1))}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        plan, T, first = self.plan, self.plan.timesteps, self.plan.first
        t, syn, word = self.t, self.syn, self.word
        walk = GroupWalk(plan)
        pos = counters = walk.counters(m)
        group_start = Signal(init=1)                       # the next issued word begins a neuron group
        valid, end = Signal(), Signal()                    # a word issues; it is the step's last
        if plan.event:       # skip all-zero input words: of the step (dense) or of the window (convolution)
            mask = self.nonzero if plan.dense else walk.window_mask(m, pos, self.nonzero)
            jump = EventSkip(m, mask, pos["sf"], group_start, plan.f_in)
            pos = walk.with_word(pos, jump.sf)             # the word issued: sf, or a group's first nonzero
            last_word = jump.last
            m.d.comb += self.skipped.eq(Mux(valid, jump.skipped(), 0))
        else:
            jump = None
            # (the first layer's neuron steps replay the stored current: one pseudo-word per group)
            last_word = Mux(syn, walk.at_end["sf"], 1) if first else walk.at_end["sf"]
        in_addr, in_bounds = walk.input_word(m, pos)
        group, out_word = walk.group_address(m, pos)
        waddr = walk.weight_address(pos, dense=jump is None)
        m.d.comb += self.waddr.eq(waddr)
        if plan.ports == 1:
            m.d.comb += self.in_addr.eq(in_addr[0])
        else:
            m.d.comb += [self.in_addr[j].eq(addr) for j, addr in enumerate(in_addr)]
        commits = ~syn if first else 1                     # (the synapse phase writes no spikes)
        flags = {"valid": valid, "first": valid & group_start, "last": valid & last_word, "nf": pos["nf"],
                 "group": group, "out_word": out_word, "in_bounds": in_bounds, "sf": pos["sf"],
                 "sub_first": pos["sub_first"], "sub_last": pos["sub_last"], "t0": t == 0, "tlast": t == T - 1,
                 "end": end, "commit": end & commits, "syn": syn}
        # (one assignment of the whole word: a port bit driven alone by a constant would be an
        # `always @*` that never runs in the Verilog)
        m.d.comb += word.eq(Cat(*(_fit(flags[name], field.width) for name, field in word.shape())))
        with m.FSM():
            with m.State("WAIT"):
                # (the walk has wrapped to its first word already: setting it again in every cycle of WAIT
                # changes nothing, and keeps the readiness, a deep signal, off the counters' enables)
                walk.reset(m, counters)
                m.d.sync += group_start.eq(1)
                with m.If(self.ready_wait):
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += valid.eq(1)
                m.d.sync += group_start.eq(last_word)
                with m.If(walk.advance(m, pos, last_word, jump)):     # (the walk wraps to word 0)
                    m.d.comb += end.eq(1)
                    self._finish_step(m)
                    with m.If(~self.ready_next):
                        m.next = "WAIT"
        return m

    def _finish_step(self, m):
        """The step's last word is issuing: release its input (its last word is being read) and move on to
        the next step (its spikes commit later, with the last write-back)."""
        T, t, syn = self.plan.timesteps, self.t, self.syn
        if self.plan.first:
            with m.If(syn):
                m.d.comb += self.release.eq(1)           # pixels are consumed: the next sample may load
                m.d.sync += syn.eq(0)
            neuron_step = ~syn
        else:
            m.d.comb += self.release.eq(1)
            neuron_step = 1
        with m.If(neuron_step):
            with m.If(t == T - 1):
                m.d.sync += t.eq(0)
                if self.plan.first:
                    m.d.sync += syn.eq(1)
            with m.Else():
                m.d.sync += t.eq(t + 1)


def _fit(value, width: int):
    """``value`` as exactly ``width`` unsigned bits (zero-extended)."""
    value = Value.cast(value).as_unsigned()
    return value[:width] if len(value) >= width else Cat(value, Const(0, width - len(value)))


class GroupWalk:
    """The hardware of a layer's walk (:class:`flipspike.ir.plan.LayerPlan` has its geometry): the
    counters of the neuron groups and input words a step visits, and the addresses that follow from
    them. ``counters`` / ``advance`` / ``input_word`` / ``group_address`` build it inside an elaboration."""

    def __init__(self, plan: LayerPlan):
        p = self.plan = plan
        self.sizes = {"py": p.hp, "px": p.wp, "nf": p.f_out, "dy": p.pool, "dx": p.pool,
                      "ky": p.ky_words, "kx": p.kx_words, "cg": p.cg, "sf": p.f_in}
        if p.event:                     # the word's place in the window follows from sf (with_word)
            for name in ("ky", "kx", "cg"):
                del self.sizes[name]
        # each counter's "at its last value", kept in a register beside it (no comparator between the
        # counters and the end-of-group / end-of-step logic)
        self.at_end = {n: Signal(name=f"walk_{n}_at_end", init=int(size == 1)) for n, size in self.sizes.items()}
        # nf * F_in, the group's first weight word, kept in a register beside nf; and (walking every word)
        # the weight word itself, nf * F_in + sf, a counter of its own: no adder between the walk's
        # registers and the weight memory's address (on a full UP5K that path, routed out to the
        # SPRAMs, set the clock: 30.0 MHz with a multiplier and an adder, 41.0 with the adder)
        # (where F_in is a power of two, the address is wiring: no registers)
        self.counted = p.f_in & (p.f_in - 1) != 0
        self.weight_base = Signal(range(max(2, p.f_out * p.f_in)), name="walk_weight_base")
        self.weight_word = Signal(range(max(2, p.f_out * p.f_in)), name="walk_weight_word")

    def counters(self, m) -> dict:
        pos = {n: Signal(range(max(2, size)), name=f"walk_{n}") for n, size in self.sizes.items()}
        pos["sub_first"] = (pos["dy"] == 0) & (pos["dx"] == 0)
        pos["sub_last"] = self.at_end["dy"] & self.at_end["dx"]
        return pos

    def reset(self, m, pos):
        """Every counter to 0 (a step's first word)."""
        for name, size in self.sizes.items():
            m.d.sync += [pos[name].eq(0), self.at_end[name].eq(size == 1)]
        if self.counted:
            m.d.sync += [self.weight_base.eq(0), self.weight_word.eq(0)]

    def advance(self, m, pos, last_word, jump=None):
        """Step the counters after one issued word; returns 'this was the step's last word'. With
        ``jump`` (event-driven), sf moves to the next nonzero word instead of the next word."""
        p = self.plan
        base = self.weight_base
        def nested(levels):
            # innermost first: a counter steps when every inner one wraps; returns 'all wrap'
            carry = Const(1)
            for name, size in levels:
                sig, at_end = pos[name], self.at_end[name]
                with m.If(carry):
                    m.d.sync += [sig.eq(Mux(at_end, 0, sig + 1)),
                                 at_end.eq(Mux(at_end, size == 1, sig == size - 2))]
                if name == "nf" and self.counted:   # the next group's first weight word: this one's, the next's or 0
                    next_base = Mux(carry, Mux(at_end, 0, base + p.f_in), base)
                    m.d.sync += [base.eq(next_base), self.weight_word.eq(next_base)]
                carry = carry & at_end
            return carry

        counter = pos.get("sf_counter", pos["sf"])
        sf_end = self.at_end["sf"]
        with m.If(last_word):
            m.d.sync += [counter.eq(0), sf_end.eq(p.f_in == 1)]
            for n in ("ky", "kx", "cg"):
                if jump is None:
                    m.d.sync += [pos[n].eq(0), self.at_end[n].eq(self.sizes[n] == 1)]
            done = nested([("dx", p.pool), ("dy", p.pool), ("nf", p.f_out), ("px", p.wp), ("py", p.hp)])
        with m.Else():
            if jump is None:
                m.d.sync += [counter.eq(pos["sf"] + 1), sf_end.eq(pos["sf"] == p.f_in - 2)]
                if self.counted:
                    m.d.sync += self.weight_word.eq(self.weight_word + 1)
                nested([("cg", p.cg), ("kx", p.kx_words), ("ky", p.ky_words)])
            else:                  # (event-driven: the end of a group comes from the jump, not from sf)
                m.d.sync += counter.eq(jump.next)
        return done & last_word

    def weight_address(self, pos, *, dense: bool):
        """The issued word's weight address, nf * F_in + sf: wiring where F_in is a power of two (nf's bits
        above sf's); else the weight word's own counter, or (``dense`` False: event-driven, sf is the
        jump's target) the group's base plus sf."""
        p = self.plan
        if not self.counted:
            return Cat(pos["sf"][:(p.f_in - 1).bit_length()], pos["nf"])
        return self.weight_word if dense else self.weight_base + pos["sf"]

    def with_word(self, pos, word):
        """``pos`` with ``word`` as the issued word sf (event-driven: a group's first nonzero word, or the
        last jump's target); for a convolution also its (ky, kx, cg), looked up from constant tables."""
        p = self.plan
        pos = {**pos, "sf_counter": pos["sf"], "sf": word}
        if not p.dense:
            offsets = p.window_offsets()
            for k, name in enumerate(("ky", "kx", "cg")):
                size = max(2, (p.k, p.k, p.cg)[k])     # (event-driven: one port, span (1, 1))
                bits = (size - 1).bit_length()
                table = Const(sum(o[k] << (i * bits) for i, o in enumerate(offsets)), bits * len(offsets))
                pos[name] = table.word_select(word, bits)
        return pos

    def window_mask(self, m, pos, nonzero):
        """One bit per word of the window at the group's output position: the input word is inside the map
        and holds a spike (``nonzero``: one bit per input word of the step)."""
        p = self.plan
        oy, ox = self._out_position(pos)
        bits = max(p.h_in, p.w_in, p.ho * p.stride + p.k).bit_length() + 2
        y0, x0 = Signal(signed(bits), name="window_y"), Signal(signed(bits), name="window_x")
        m.d.comb += [y0.eq(oy * p.stride - p.pad), x0.eq(ox * p.stride - p.pad)]
        mask = Signal(p.f_in, name="window_mask")
        for i, (ky, kx, c) in enumerate(p.window_offsets()):
            y, x = y0 + ky, x0 + kx
            inside = (y >= 0) & (y < p.h_in) & (x >= 0) & (x < p.w_in)
            addr = (y * p.w_in + x) * p.cg + c
            m.d.comb += mask[i].eq(inside & nonzero.bit_select(addr.as_unsigned()[:max(1, (p.in_words - 1).bit_length())], 1))
        return mask


    def _out_position(self, pos):
        p = self.plan
        return pos["py"] * p.pool + pos["dy"], pos["px"] * p.pool + pos["dx"]

    def input_word(self, m, pos):
        """(the input word's address per read port, in bounds: a bit per port) for the word being issued.
        A window-wide word's ports read the pixels of the kernel positions it spans (``port_offsets``)."""
        p = self.plan
        if p.dense:
            return [pos["sf"]], 1
        oy, ox = self._out_position(pos)
        bits = max(p.h_in, p.w_in, p.ho * p.stride + p.k).bit_length() + 2
        y, x = Signal(signed(bits), name="in_y"), Signal(signed(bits), name="in_x")
        offset = Const(-p.pad, signed(bits))
        my, mx = p.span
        ky = pos["ky"] if my == 1 else pos["ky"] * my
        kx = pos["kx"] if mx == 1 else pos["kx"] * mx
        m.d.comb += [y.eq(oy * p.stride + ky + offset), x.eq(ox * p.stride + kx + offset)]
        addrs, in_bounds = [], []
        for dy, dx in p.port_offsets():
            suffix = "" if p.ports == 1 else f"{dy}_{dx}"
            inside = Signal(name=f"in_bounds{suffix}")
            yj, xj = (y + dy if dy else y), (x + dx if dx else x)
            if p.pad:
                m.d.comb += inside.eq((yj >= 0) & (yj < p.h_in) & (xj >= 0) & (xj < p.w_in))
            else:
                m.d.comb += inside.eq(1)
            addr = Signal(range(max(2, p.in_words)), name=f"in_addr{suffix}")
            m.d.comb += addr.eq((yj * p.w_in + xj) * p.cg + pos["cg"])
            addrs.append(addr)
            in_bounds.append(inside)
        return addrs, Cat(*in_bounds)

    def group_address(self, m, pos):
        """(membrane / current word of the group, output spike word it writes into)."""
        p = self.plan
        group = Signal(range(max(2, p.groups)), name="group")
        out_word = Signal(range(max(2, p.out_words)), name="out_word")
        if p.dense:
            m.d.comb += [group.eq(pos["nf"]), out_word.eq(pos["nf"])]
        else:
            oy, ox = self._out_position(pos)
            m.d.comb += [group.eq((oy * p.wc + ox) * p.f_out + pos["nf"]),
                         out_word.eq((pos["py"] * p.wp + pos["px"]) * p.f_out + pos["nf"])]
        return group, out_word


def lowest_set(bits, n: int):
    """(index of the lowest set bit of ``bits[:n]``, any bit set): a priority encoder (0 when none),
    built as a balanced tree, so its depth (and the elaborator's recursion) grows as log2(n)."""
    def tree(lo: int, hi: int):
        if hi - lo == 1:
            return Const(0, range(max(2, n))), bits[lo]
        mid = (lo + hi + 1) // 2
        (i_lo, any_lo), (i_hi, any_hi) = tree(lo, mid), tree(mid, hi)
        return Mux(any_lo, i_lo, i_hi + (mid - lo)), any_lo | any_hi

    index, any_set = tree(0, n)
    return Mux(any_set, index, 0), any_set


class EventSkip:
    """Event-driven walk over a group's input words (``nonzero``: one bit per word, the step's words for
    a dense layer, the window's for a convolution): visit only words holding a spike. A neuron group
    starts at its first nonzero word (word 0 when there is none: the group still needs its neuron
    update), found as the group starts, and jumps from word to next nonzero word; it ends where none is
    left. ``sf``: the word issued this cycle (``counter`` holds where the last jump landed)."""

    def __init__(self, m, nonzero, counter, group_start, f_in: int):
        self.f_in = f_in
        first, _ = lowest_set(nonzero, f_in)
        self.sf = Signal(range(max(2, f_in)), name="event_word")
        self.group_start = group_start
        m.d.comb += self.sf.eq(Mux(group_start, first, counter))
        above = Signal(f_in, name="event_above")
        m.d.comb += above.eq(nonzero >> (self.sf + 1))
        offset, any_above = lowest_set(above, f_in)
        self.next = self.sf + 1 + offset
        self.last = ~any_above

    def skipped(self):
        """Words jumped over by this issue: those before the group's first word, and those between this
        word and the next (or after this one, at the group's last word)."""
        before = Mux(self.group_start, self.sf, 0)
        after = Mux(self.last, self.f_in - 1 - self.sf, self.next - self.sf - 1)
        return before + after
