"""BSO / T-BSO: the flip rule against an independent numpy computation, and online training on digits."""

import numpy as np
import pytest
import torch

from flipspike.sw import BSO, TBSO
from flipspike.sw.layers import BinaryLinear
from flipspike.sw.model import ModelConfig
from flipspike.sw.train import TrainConfig, train


def _run(opt_factory, grads, w0, **kw):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = opt_factory([p], **kw)
    history = []
    for t, g in enumerate(grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step(t % kw.get("timesteps", 1))
        history.append(p.detach().numpy().copy())
    return history, opt, p


def test_bso_flip_rule_matches_numpy():
    rng = np.random.default_rng(0)
    w0 = np.where(rng.random(200) < 0.5, -1.0, 1.0)
    grads = rng.normal(size=(50, 200)) * 1e-3 + 2e-4
    gamma, beta = 1e-5, 0.9
    history, _, _ = _run(BSO, grads, w0, gamma=gamma, beta=beta)
    w, m = w0.copy(), np.zeros(200)
    for g, got in zip(grads, history):
        m = m * beta + g * (1 - beta)
        flip = w * m > gamma
        w = np.where(flip, -w, w)
        assert np.array_equal(got, w)
    assert (history[-1] != w0).any()


def test_bso_reset_momentum_zeroes_flipped_entries():
    _, opt, p = _run(BSO, [[1.0, -1.0, 1.0]], [1.0, 1.0, -1.0], gamma=0.0, beta=0.5, reset_momentum=True)
    assert p.tolist() == [-1.0, 1.0, -1.0]                     # only w*m > 0 flipped: entry 0
    assert opt.state[p]["momentum"].tolist() == [0.0, -0.5, 0.5]


def test_weights_stay_exactly_plus_minus_one():
    # zero gradients, exact ties (w*m == gamma does not flip), large gradients: never a 0 or a non-unit weight
    grads = [[0.0, 0.0, 0.0], [1.0, -1.0, 1e-12], [5.0, -5.0, 0.0]]
    history, _, _ = _run(BSO, grads, [1.0, -1.0, 1.0], gamma=1.0, beta=0.0)
    for w in history:
        assert set(np.abs(w)) == {1.0}
    assert history[1].tolist() == [1.0, -1.0, 1.0]             # w*m == gamma exactly: no flip
    assert history[2].tolist() == [-1.0, 1.0, 1.0]            # w*m = 5 > gamma: flip


def test_tbso_threshold_uses_second_moment_per_time_step():
    rng = np.random.default_rng(1)
    T, n = 3, 64
    w0 = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    grads = rng.normal(size=(12, n)) * 1e-2 + 1e-3
    gamma, b1, b2, eps = 0.05, 0.9, 0.99, 1e-10
    history, opt, p = _run(TBSO, grads, w0, gamma=gamma, betas=(b1, b2), timesteps=T, eps=eps)
    w, m, v = w0.copy(), np.zeros(n), np.zeros(T)
    for k, (g, got) in enumerate(zip(grads, history)):
        t = k % T
        m = m * b1 + g * (1 - b1)
        v[t] = b2 * v[t] + (1 - b2) * np.mean(g * g)
        w = np.where(w * m > gamma * (np.sqrt(v[t]) + eps), -w, w)
        assert np.array_equal(got, w)
    assert np.allclose(opt.state[p]["v"].numpy(), v)


def test_tbso_needs_the_time_step():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    with pytest.raises(ValueError, match="time step index"):
        TBSO([p], timesteps=4).step()


def test_latent_weights_are_refused():
    with pytest.raises(ValueError, match="exactly \\+-1"):
        BSO([torch.nn.Parameter(torch.tensor([0.3, -1.0]))])


def test_trace_gives_delta_outer_trace_and_the_spike_value():
    fc = BinaryLinear(4, 3, mode="direct")
    s = torch.tensor([[1.0, 0.0, 1.0, 0.0]], requires_grad=True)
    trace = torch.tensor([[1.5, 0.5, 1.0, 0.0]])
    y = fc(s, trace)
    assert torch.equal(y, s.detach() @ fc.weight.detach().t())           # forward: the real spikes
    delta = torch.tensor([[1.0, -2.0, 0.5]])
    y.backward(delta)
    assert torch.allclose(fc.weight.grad, delta.t() @ trace)             # dL/dW = delta (x) trace


@pytest.mark.parametrize("method", ["bso", "tbso"])
def test_online_training_all_binary_digits(method, tmp_path):
    metrics = train(ModelConfig("64-128-10", timesteps=4), TrainConfig(method=method, epochs=30, seed=0),
                    tmp_path, progress=False)
    assert metrics["final_test_accuracy"] >= 0.93
    last = metrics["epochs"][-1]
    assert 0 < last["flip_ratio_epoch"][0] < metrics["epochs"][0]["flip_ratio_epoch"][0]   # flips anneal


@pytest.mark.parametrize("method", ["bso", "tbso"])
def test_papers_setting_reaches_97(method, tmp_path):
    """64-256-256-10, first and last layer full precision, hidden layer binary, T=4, 30 epochs."""
    metrics = train(ModelConfig("64-256-256-10", timesteps=4, fp_first_last=True),
                    TrainConfig(method=method, epochs=30, seed=0), tmp_path, progress=False)
    assert metrics["final_test_accuracy"] >= 0.97


def test_ndot_trace_follows_its_equation():
    """a[t] = mu[t] a[t-1] + s[t], mu = (u[t] - Vth s[t]) / (u[t-1] - Vth s[t-1]) clamped to [-lambda, lambda]."""
    from flipspike.sw.model import BSNN
    torch.manual_seed(0)
    model = BSNN(ModelConfig("64-12-10", timesteps=3, weight_mode="direct", reset="soft"))
    model.train()
    x = torch.rand(5, 64) * 16
    state, traces, posts = None, [], []
    for _ in range(3):
        _, state = model.online_step(x, state, "ndot")
        traces.append(state["trace"][0].detach())
        posts.append(state["post"][0])
    spikes = [traces[0]]
    for t in (1, 2):
        prev = posts[t - 1]
        mu = torch.where(prev != 0, posts[t] / prev.where(prev != 0, torch.ones_like(prev)), 0.5 * torch.ones_like(prev))
        s_t = traces[t] - mu.clamp(-0.5, 0.5) * traces[t - 1]
        spike = s_t.round()
        assert set(spike.unique().tolist()) <= {0.0, 1.0}                    # what remains is the spike,
        assert torch.allclose(s_t, spike, atol=1e-5)                          # up to float32 rounding
        spikes.append(spike)
    assert sum(float(s.sum()) for s in spikes) > 0


def test_ndot_training_runs(tmp_path):
    metrics = train(ModelConfig("64-32-10", timesteps=2), TrainConfig(method="bso", epochs=2, trace="ndot"),
                    tmp_path, progress=False)
    assert metrics["final_test_accuracy"] > 0.5


def test_int_bso_follows_the_flip_units_integer_rule():
    """IntBSO against numpy: g_int = round(g * 2**s); m <- sat(m - (m >> k) + g_int); flip where w*m > thr,
    with k = round(-log2(1 - beta)) and thr = round(gamma * 2**(k + s))."""
    from flipspike.sw.optim import IntBSO
    rng = np.random.default_rng(3)
    w0 = np.where(rng.random(300) < 0.5, -1.0, 1.0)
    grads = rng.normal(size=(40, 300)) * 2e-4 + 5e-5
    gamma, beta, s, bits = 2e-5, 1 - 2 ** -3, 12, 10
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = IntBSO([p], gamma=gamma, beta=beta, momentum_bits=bits, grad_shift_bits=s)
    w, m = w0.copy(), np.zeros(300, dtype=np.int64)
    k, thr = 3, round(gamma * 2 ** (3 + s))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        m = np.clip(m - (m >> k) + np.round(g * 2 ** s).astype(np.int64), lo, hi)
        flip = np.where(w > 0, m > thr, m < -thr)
        w = np.where(flip, -w, w)
        assert np.array_equal(p.detach().numpy(), w)
        assert np.array_equal(opt.state[p]["momentum"].numpy(), m)
    assert opt.counts["int"] > 0
    # with this much resolution the float rule, run in the shadow, agrees on most flips
    assert opt.agreement()["of_int"] > 0.8
