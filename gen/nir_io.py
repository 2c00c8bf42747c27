"""NIR (the Neuromorphic Intermediate Representation) in and out of the integer network description.

The public functions: ``nir_export`` writes graphs, ``nir_import`` reads them, ``nir_common`` holds what
both share, ``nir_conventions`` what each library's graphs mean, ``nir_reference`` a float simulation.

Export writes the description as it runs in hardware, so the graph is exact: weights are +-1, the
folded BatchNorm is in the bias and threshold, values are the fixed-point integers times 2**-F.

    dense / conv layer  ->  Affine (weight +-1, bias c * 2**-F) or Conv2d (+-1 kernels, bias)
    LIF neuron          ->  LIF(tau = 2**k, r = tau, v_leak = 0, v_threshold = (theta - 1/2) * 2**-F, v_reset = 0)
                            (IF when there is no leak; soft reset: v_threshold = (theta - eps) * 2**-F, v_reset
                            omitted, metadata reset="subtract")
    OR max-pooling      ->  SumPool2d(P, stride P) + Threshold(0.5)   (exact for 0/1 spikes; for a library's
                            importer, which maps no Threshold: + LIF that fires on one spike and resets to 0)
    conv -> dense       ->  Flatten (NIR flattens C, H, W; the dense weights are permuted to that order)
    output layer        ->  Affine -> Output (the class is the argmax of the output summed over time)

The mapping from continuous time is forward Euler with dt = 1: NIR's LIF, tau dv/dt = v_leak - v + r*I,
becomes v <- (1 - 1/tau) v + (r/tau) I + v_leak/tau, so the leak is lambda = 1 - 1/tau and the
integer leak shift is k = log2(tau). NIR fires where v > v_threshold and flipspike where v >= theta: on
the 2**-F grid of the membrane, v > u is n >= floor(u * 2**F) + 1, so every v_threshold in
[(theta - 1), theta) * 2**-F means theta; export writes the midpoint, which v >= reads as theta too
(``docs/integer-semantics.md``, "NIR").

Import reads other libraries' graphs by their own conventions (``flipspike.gen.nir_conventions``: time
step, Euler or exact integration, v > or >= threshold), names the one it used, and reports every
approximation: a leak that is not 1 - 2**-k, weights that are not +-s per row, per-row output scales
that differ, biases rounded to 2**-F. Thresholds are exact under either comparison.
"""

from .nir_common import NIR_VERSIONS
from .nir_export import EXPORT_METADATA, to_nir, write_nir
from .nir_import import ImportReport, from_nir, read_graph, read_nir

__all__ = ["EXPORT_METADATA", "ImportReport", "NIR_VERSIONS", "from_nir", "read_graph", "read_nir", "to_nir",
           "write_nir"]
