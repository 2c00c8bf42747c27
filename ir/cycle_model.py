"""Analytic cycle model per layer, FINN style: one input word issued per cycle, G * F_in per time step.

A layer's steps issue (see :mod:`flipspike.ir.plan` and :mod:`flipspike.hw.layer_engine`)

    hidden / output layer:  T steps of G * F_in words
    first layer:            a synapse phase of G * F_in words once per sample (direct encoding), then
                            T neuron steps of G pseudo-words (the stored current); fed frames, T steps
                            of G * F_in words like a hidden layer (it starts once a sample's T frames
                            are in its frame buffer)
    event-driven layer:     T steps of F_out * max(1, nonzero input words of the step) words (dense),
                            sum over its walked positions of F_out * max(1, nonzero words of the
                            position's window) (convolution)

with F_in = N_in/SIMD (a convolution: k*k*C_in/SIMD) and G the neuron groups walked per step: N_out/PE
for a dense layer, output positions x C_out/PE for a convolution (with pooling, the positions some
pooling window covers). After a step's last word, stages B to D drain for D = PIPELINE_DRAIN cycles.
Where the next step is ready by then and ``continues_directly`` allows it, its first word issues in the
next cycle and the drain is hidden; otherwise the engine drains and waits. A layer's busy cycles (its
hardware ``cycles`` counter) are its issue cycles plus the drain cycles not hidden behind an issue.

Readiness: step j of layer l needs step j of layer l-1 committed (visible D + 1 cycles after that
step's last word) and its own output bank free (layer l+1 has released step j-B, B the buffer's banks
(``NetPlan.banks``): visible the cycle after that step's last word). :func:`sample_cycles` replays these handshakes for a sample run on its own
(the co-simulation's one-at-a-time runs) and is exact, cycle for cycle; :func:`layer_cycles` gives each
layer's period in a stream when it is never kept waiting, and :func:`stream_cycles` replays the same
handshakes over a stream of samples: the interval between results, which the slowest layer's period
bounds from below (``NetPlan.banks`` gives buffers the banks that make the two equal where banks can).
"""

from __future__ import annotations

import numpy as np

from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold
from flipspike.ir.plan import PIPELINE_DRAIN, LayerPlan, NetPlan, result_turnaround

_NEVER = -(1 << 40)      # "ready since long ago"
#: A step's spikes are committed with its last write-back and visible to the next layer a cycle later.
COMMITTED = PIPELINE_DRAIN + 1


class _Engine:
    """One layer's step sequencing, replayed: start and last-word cycles of its steps, busy cycles."""

    def __init__(self, plan: LayerPlan):
        self.straight_on = plan.continues_directly()
        self.into_neurons = plan.continues_directly(into_neurons=True)
        self.empty_first = plan.starts_only_when_empty
        self.last_start = self.last_end = None
        self.ends: list[int] = []         # last-word cycle of each step that writes output (neuron steps)
        self.busy = self.issue = 0

    def step(self, words: int, ready_at: int, *, writes: bool = True, into_neurons: bool = False) -> int:
        """Run one step of ``words`` issue cycles whose inputs and output slot are ready from cycle
        ``ready_at``; returns its last word's cycle."""
        end = self.last_end
        if end is None:                                   # idle in WAIT: start the cycle after ready
            start = ready_at + 1
        elif (self.into_neurons if into_neurons else self.straight_on) and ready_at <= end:
            start = end + 1                               # straight on, the drain hidden
        else:                                             # drain, wait, start from WAIT
            start = max(ready_at, end + (2 if self.empty_first else 1)) + 1
        if end is not None:
            self.busy += min(PIPELINE_DRAIN, start - end - 1)
        self.busy += words
        self.issue += words
        self.last_start, self.last_end = start, start + words - 1
        if writes:
            self.ends.append(self.last_end)
        return self.last_end

    def finish(self) -> int:
        return self.busy + (PIPELINE_DRAIN if self.last_end is not None else 0)


def event_words(layer, fold: Fold, spikes) -> np.ndarray:
    """Words an event-driven layer issues per step for input ``spikes`` [steps, n_in] (0/1)."""
    walk = LayerPlan(layer, fold)
    steps = spikes.shape[0]
    nonzero = spikes.reshape(steps, walk.in_words, fold.simd).any(axis=2)          # [steps, words]
    if walk.dense:
        return walk.f_out * np.maximum(1, nonzero.sum(axis=1))
    # convolution: nonzero words in each walked position's window (zero padding holds no spike)
    maps = nonzero.reshape(steps, walk.h_in, walk.w_in, walk.cg)
    p, s, k = walk.pad, walk.stride, walk.k
    maps = np.pad(maps, ((0, 0), (p, p + s * walk.ho), (p, p + s * walk.wo), (0, 0)))
    counts = np.zeros((steps, walk.hp * walk.pool, walk.wc), dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            window = maps[:, ky:ky + s * counts.shape[1]:s, kx:kx + s * counts.shape[2]:s]
            counts += window.sum(axis=3)
    return walk.f_out * np.maximum(1, counts).sum(axis=(1, 2))


def step_words(desc: NetDesc, folds: list[Fold], event=None) -> list[list[int]]:
    """Issue cycles of each step of each layer (first layer: the synapse phase, then the T neuron
    steps). ``event[l]``: the words event-driven layer l issues at each step (:func:`event_words`)."""
    T, out = desc.timesteps, []
    for i, plan in enumerate(NetPlan(desc, folds).layers):
        if plan.first:
            out.append([plan.synapse_phase] + [plan.step_issue()] * T)
        elif plan.event:
            out.append([int(w) for w in event[i]])
        else:
            out.append([plan.step_issue()] * T)
    return out


def schedule(desc: NetDesc, folds: list[Fold], words: list[list[int]]) -> list[int]:
    """Busy cycles of each layer for one sample run alone, from its steps' issue cycles (step_words)."""
    T, L = desc.timesteps, len(desc.layers)
    net = NetPlan(desc, folds)
    banks = net.banks
    engines = [_Engine(plan) for plan in net.layers]
    direct = net.layers[0].first
    if direct:
        engines[0].step(words[0][0], _NEVER, writes=False)             # the synapse phase, at cycle 0
    for j in range(T):
        for i, engine in enumerate(engines):
            ready = _NEVER if i == 0 else engines[i - 1].ends[j] + COMMITTED   # the input step committed
            if i < L - 1 and j >= banks[i]:                            # its output bank released
                ready = max(ready, engines[i + 1].ends[j - banks[i]] + 1)
            engine.step(words[i][j + (i == 0 and direct)], ready, into_neurons=i == 0 and direct and j == 0)
    return [engine.finish() for engine in engines]




def mean_event_words(layer, fold: Fold, spikes) -> list[float]:
    """Words an event-driven ``layer`` at ``fold`` issues at each step, averaged over the samples of
    ``spikes`` [steps, samples, n_in] (0/1, the layer's input): what planning takes for its steps."""
    spikes = np.asarray(spikes)
    return list(np.mean([event_words(layer, fold, spikes[:, b]) for b in range(spikes.shape[1])], axis=0))


class _FrameLoads:
    """A frame buffer of T banks (``hw.buffers.FrameBuffer``) fed a word per cycle: frame j of a sample
    loads into bank j once the previous sample's step j has released it and the frame before it is in;
    a sample may start when its last frame is (a cycle later: the handshake's register)."""

    def __init__(self, words: int, timesteps: int):
        self.words, self.last = words, -1
        self.released: list[int | None] = [None] * timesteps

    def load_sample(self) -> int:
        """Load the next sample's frames; returns the cycle from which its step 0 is ready."""
        for j, freed in enumerate(self.released):
            start = self.last + 1 if freed is None else max(self.last + 1, freed + 1)
            self.last = start + self.words - 1
        return self.last + 1

    def release(self, step: int, cycle: int) -> None:
        self.released[step] = cycle


#: Samples a stream replay runs (its interval is measured from the third result on: the steady state).
STREAM_SAMPLES = 12


def stream_interval(desc: NetDesc, plans: list[LayerPlan], banks: list[int], step_words=None,
                    samples: int = STREAM_SAMPLES, warmup: int = 2) -> float:
    """Cycles between results of a stream of samples sent back to back (the input stream never waits):
    every layer's steps replayed with the handshakes of :func:`schedule` across samples (a step waits
    for its input step committed and for its output bank, ``banks`` per buffer, released, counted over
    the whole stream), the first layer's synapse phase for its pixels (the pixel buffer, emptied two
    cycles after the phase's last word, refills a word per cycle) or its frames (:class:`_FrameLoads`),
    and the output layer for its previous result to leave. ``step_words``: words of each of a layer's T
    steps where they are not the dense ones (event-driven layers, averaged). The slowest layer's period
    (:func:`fold_cycles`) is a lower bound; equal where no handshake stalls the slowest layer. The
    interval is taken from result ``warmup`` to the last (0: as the benches measure a stream of
    ``samples``, from its first result)."""
    T, L = desc.timesteps, len(plans)
    engines = [_Engine(p) for p in plans]
    first, out = plans[0], plans[-1]
    direct = first.first
    loads = None if direct else _FrameLoads(first.in_words, T)
    pixel_words = desc.input.size // first.port_simd
    pixels_in = pixel_words + 1                     # (a sample's pixels in the buffer: ready from here)
    result_out, results = None, []
    for s in range(samples):
        frames_in = _NEVER if direct else loads.load_sample()
        if direct:
            phase_end = engines[0].step(first.synapse_phase, pixels_in, writes=False)
            pixels_in = phase_end + 2 + pixel_words
        for j in range(T):
            g = s * T + j
            for i, engine in enumerate(engines):
                ready = frames_in if i == 0 and j == 0 else _NEVER
                if i > 0:
                    ready = max(ready, engines[i - 1].ends[g] + COMMITTED)
                if i < L - 1 and g >= banks[i]:
                    ready = max(ready, engines[i + 1].ends[g - banks[i]] + 1)
                waits = j == T - 1 if out.result_register else j == 0
                if i == L - 1 and waits and result_out is not None:
                    ready = max(ready, result_out + result_turnaround(out.pe))
                words = plans[i].step_issue() if step_words is None or step_words[i] is None else step_words[i][j]
                engine.step(words, ready, into_neurons=i == 0 and direct and j == 0)
                if loads is not None and i == 0:
                    loads.release(j, engine.last_end)
        result_out = engines[-1].last_end
        results.append(result_out)
    return (results[-1] - results[warmup]) / (samples - 1 - warmup)


def stream_cycles(desc: NetDesc, folds: list[Fold], spikes: dict | None = None, **kwargs) -> float:
    """Cycles between results of samples sent back to back at ``folds`` (:func:`stream_interval`), event-driven
    layers' steps from their input ``spikes`` where given (as :func:`layer_cycles`), else dense (a bound)."""
    net = NetPlan(desc, folds)
    words = [mean_event_words(layer, fold, spikes[i]) if fold.event and spikes and spikes.get(i) is not None
             else None for i, (layer, fold) in enumerate(zip(desc.layers, folds))]
    return stream_interval(desc, net.layers, net.banks, words, **kwargs)


def fold_cycles(layer, fold: Fold, timesteps: int, first: bool, step_words=None,
                frame_words: int | None = None) -> tuple[float, float]:
    """(period, issue cycles) of ``layer`` at ``fold``: the cycles from one sample's first word to the
    next's when its neighbours never keep it waiting, and the words it issues per sample. Dense mode,
    or with ``step_words`` the words of each of its T steps (an event-driven layer: mean_event_words).
    ``frame_words``: a frame-fed first layer, whose frames (of that many words) arrive a word per cycle
    into its T-bank frame buffer (:class:`_FrameLoads`): where its steps are short the link sets the pace."""
    walk = LayerPlan(layer, fold, first=first, timesteps=timesteps)
    engine = _Engine(walk)
    loads = None if frame_words is None else _FrameLoads(frame_words, timesteps)
    starts = []
    result_out = None                 # the output layer: the last sample's last step ended here
    register = walk.result_register
    for _ in range(3):                # the period in steady state: between the second and third samples
        if first:
            engine.step(walk.synapse_phase, _NEVER, writes=False)
            starts.append(engine.last_start)
        frames_in = _NEVER if loads is None else loads.load_sample()
        for j in range(timesteps):
            ready = _NEVER            # the output layer waits for its last result to leave: at its last
            waits = j == timesteps - 1 if register else j == 0      # step with a result register, else at step 0
            if layer.kind == "output" and waits and result_out is not None:
                ready = result_out + result_turnaround(fold.pe)
            if j == 0:
                ready = max(ready, frames_in)
            words = walk.step_issue() if step_words is None else step_words[j]
            engine.step(words, ready, into_neurons=first and j == 0)
            if loads is not None:
                loads.release(j, engine.last_end)
            if j == 0 and not first:
                starts.append(engine.last_start)
        result_out = engine.last_end
    return starts[2] - starts[1], engine.issue / 3


def layer_cycles(desc: NetDesc, folds: list[Fold], spikes: dict | None = None) -> list[dict]:
    """Each layer's period and issue cycles at its fold (:func:`fold_cycles`): dense mode, except an
    event-driven layer i whose input spikes are given (``spikes[i]``: [T, samples, n_in]), whose
    expected figures come from them (then ``"expected": True``)."""
    rows = []
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        words = None
        if fold.event and spikes and spikes.get(i) is not None:
            words = mean_event_words(layer, fold, spikes[i])
        frame_words = LayerPlan(layer, fold).in_words if i == 0 and desc.input.per_step else None
        cycles, issue = fold_cycles(layer, fold, desc.timesteps, desc.stores_current(i), words, frame_words)
        rows.append({"name": layer.name, "simd": fold.simd, "pe": fold.pe, "f_in": layer.n_in // fold.simd,
                     "f_out": layer.n_out // fold.pe, "groups": LayerPlan(layer, fold).groups,
                     "cycles": _figure(cycles), "issue_cycles": _figure(issue), "event": fold.event,
                     "expected": words is not None})
    return rows


def _figure(value):
    """Cycles as an int where they are whole (dense mode), else to one decimal (means over samples)."""
    return int(value) if float(value).is_integer() else round(float(value), 1)


def sample_cycles(desc: NetDesc, folds: list[Fold], ref) -> list[list[dict]]:
    """Per sample and layer, {"cycles", "skipped"} for samples run one at a time (``ref``: the integer
    reference's result for them): busy cycles from :func:`schedule`, with event-driven layers' steps
    from the spikes they receive; ``skipped``: the input words an event-driven layer did not issue."""
    T = desc.timesteps
    n = int(ref.cls.shape[0])
    issued = [None] * len(desc.layers)
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        if fold.event:
            spikes = ref.layer_inputs(i).numpy()                                    # [T, B, n_in]
            issued[i] = [event_words(layer, fold, spikes[:, b]) for b in range(n)]
    out = []
    for b in range(n):
        words = step_words(desc, folds, [None if w is None else w[b] for w in issued])
        busy = schedule(desc, folds, words)
        out.append([{"cycles": busy[i],
                     "skipped": (T * LayerPlan(layer, fold).synapse_phase - sum(words[i])
                                 if fold.event else 0)}
                    for i, (layer, fold) in enumerate(zip(desc.layers, folds))])
    return out
