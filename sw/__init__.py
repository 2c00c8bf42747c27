"""The PyTorch golden model: training (STE/BPTT, BSO, T-BSO) and the integer reference.

Import the optimizers as ``from flipspike.sw import BSO, TBSO``.
"""


def __getattr__(name):       # lazy: importing flipspike.sw must not pull torch into hw-only tools
    if name in ("BSO", "TBSO"):
        from . import optim
        return getattr(optim, name)
    raise AttributeError(name)
