"""Energy estimates in the convention the BSNN papers use (labelled as estimates everywhere).

0.9 pJ per accumulate (AC) and 4.6 pJ per multiply-accumulate (MAC), 32-bit at 45 nm (Horowitz,
ISSCC 2014). A binary network does no multiplications: every synaptic operation adds or subtracts an
input (a pixel value in the first layer, a spike after), so its estimate is SOPs x 0.9 pJ with the SOPs
the hardware counters measure. The same shape as a full-precision ANN would do one MAC per synapse
per inference: fan-in x neurons x 4.6 pJ, for comparison.
"""

from __future__ import annotations

from flipspike.ir import NetDesc

E_AC_PJ = 0.9
E_MAC_PJ = 4.6


def energy_estimate(desc: NetDesc, sops_per_layer: list[float]) -> dict:
    """``sops_per_layer``: mean SOPs per inference of each layer (hardware counters or reference)."""
    layers = []
    for layer, sops in zip(desc.layers, sops_per_layer):
        macs = layer.n_in * layer.neurons
        layers.append({"name": layer.name, "sops": sops, "snn_pj": sops * E_AC_PJ, "ann_macs": macs,
                       "ann_pj": macs * E_MAC_PJ})
    snn, ann = sum(r["snn_pj"] for r in layers), sum(r["ann_pj"] for r in layers)
    return {"estimate": True, "e_ac_pj": E_AC_PJ, "e_mac_pj": E_MAC_PJ, "layers": layers,
            "snn_nj": snn / 1000, "ann_nj": ann / 1000, "ratio": ann / snn if snn else None}


def energy_line(energy: dict) -> str:
    return (f"energy (estimate, 45 nm): {energy['snn_nj']:.2f} nJ per inference at {energy['e_ac_pj']} pJ per "
            f"synaptic op; an ANN of the same shape: {energy['ann_nj']:.2f} nJ at {energy['e_mac_pj']} pJ per MAC "
            f"({energy['ratio']:.1f}x)")
