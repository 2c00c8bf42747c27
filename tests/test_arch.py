"""Architecture strings, and convolutional networks from training through export to the integer reference."""

import numpy as np
import pytest
import torch

from flipspike.ir import NetDesc
from flipspike.ir.errors import DescriptionError
from flipspike.sw.arch import parse_arch
from flipspike.sw.export import export_model
from flipspike.sw.integer import run_integer
from flipspike.sw.metrics import evaluate
from flipspike.sw.model import BSNN, ModelConfig

from helpers import randomize_bn


def test_parse_vgg_style_arch():
    specs = parse_arch("c16-c32-p2-fc10", (8, 8, 1))
    assert [s.out for s in specs] == [16, 32, 10]
    assert specs[0].conv.kernel == 3 and specs[0].conv.padding == 1 and specs[0].out_shape == (8, 8, 16)
    assert specs[1].in_shape == (8, 8, 16) and specs[1].pool == 2 and specs[1].output_shape == (4, 4, 32)
    assert specs[2].in_shape == (512,) and specs[2].conv is None
    strided = parse_arch("c8k5s2-10", (8, 8, 1))
    assert strided[0].conv.padding == 2 and strided[0].out_shape == (4, 4, 8)


def test_mlp_arch_checks_the_input_size():
    assert [s.out for s in parse_arch("64-128-10", (8, 8, 1))] == [128, 10]
    with pytest.raises(ValueError, match="does not match the dataset's 64 inputs"):
        parse_arch("100-10", (8, 8, 1))


@pytest.mark.parametrize("arch,msg", [("c16-p2-p2-fc10", "pooling must follow a convolution"),
                                      ("c16", "last layer must be dense"), ("c16-x3-10", "unknown layer token"),
                                      ("c4-p16-10", "cannot pool")])
def test_bad_arch_names_the_problem(arch, msg):
    with pytest.raises(ValueError, match=msg):
        parse_arch(arch, (8, 8, 1))


def test_conv_on_flat_input_is_refused():
    with pytest.raises(ValueError, match="needs an image input"):
        parse_arch("c8-10", (64,))


@pytest.mark.parametrize("arch,shortcuts", [("c6-c6-p2-fc10", True), ("c4k3s2-c6-p2-fc10", False)])
def test_conv_export_reproduces_float_spikes(arch, shortcuts, digits):
    """An untrained conv net with random BN (negative scales too) and a shortcut: the exported integer
    network gives the float model's spikes (HWC layout) and SOPs, up to rare rounding at the threshold."""
    torch.manual_seed(1)
    model = BSNN(ModelConfig(arch, input_shape=(8, 8, 1), timesteps=3, reset="soft", shortcuts=shortcuts))
    assert model.shortcut == [False, shortcuts]
    randomize_bn(model, mean=3, var=20, fire=True)
    model.eval()
    x = digits.x_test[:100]
    out, spikes = model(torch.as_tensor(x, dtype=torch.float32))
    desc = export_model(model, pixel_bits=5, pixel_max=16, frac_bits=10)
    desc = NetDesc.from_json(desc.to_json())                          # survives the file format
    assert (desc.layers[1].shortcut is not None) == shortcuts
    ref = run_integer(desc, x)
    for s, layer in zip(spikes, ref.layers):
        assert layer.spikes.sum() > 0
        agree = (s.permute(0, 1, 3, 4, 2).to(torch.int64) == layer.spikes).float().mean().item()
        assert agree > 0.995
    assert (out.argmax(1) == ref.cls).float().mean().item() > 0.97
    ev = evaluate(model, x, digits.y_test[:100])
    assert np.allclose(ev["sops"], [float(l.sops.float().mean()) for l in ref.layers], rtol=0.02)
    assert ev["sops"][0] == pytest.approx(float(ref.layers[0].sops.float().mean()))   # pixels: exact


def test_shortcut_network_generates_and_lints_but_has_no_nir_form(tmp_path):
    from flipspike.hw.verilog import generate
    from flipspike.sim.lint import lint
    from flipspike.gen.nir_io import to_nir
    from flipspike.ir import default_folding
    model = BSNN(ModelConfig("64-16-16-10", timesteps=2, shortcuts=True))
    model.eval()
    desc = export_model(model, pixel_bits=5, pixel_max=16)
    design = generate(desc, default_folding(desc.layers), tmp_path / "rtl")
    assert lint(design.dir).ok
    with pytest.raises(DescriptionError, match="layer fc2: shortcut gains have no NIR form"):
        to_nir(desc)


def test_conv_fold_must_divide_the_channels():
    from flipspike.ir import Fold
    from flipspike.ir.errors import FoldingError
    from flipspike.ir.folding import default_folding, validate_folding
    model = BSNN(ModelConfig("c6-c4-fc10", input_shape=(8, 8, 1), timesteps=2))
    model.eval()
    desc = export_model(model, pixel_bits=5, pixel_max=16)
    assert [f.simd for f in default_folding(desc.layers)] == [1, 6, 16]
    # 9 divides the fan-in 54 but neither the 6 channels nor a rectangle of the window (18: a row, 54: all)
    with pytest.raises(FoldingError, match=r"SIMD=9 neither divides its 6 input channels .* \[1, 2, 3, 6, 18, 54\]"):
        validate_folding(desc.layers, [Fold(1, 1), Fold(9, 1), Fold(16, 1)])


def test_version_1_descriptions_still_load(digits_desc):
    doc = digits_desc.to_json()
    doc["schema_version"] = 1
    assert NetDesc.from_json(doc).to_json()["layers"] == digits_desc.to_json()["layers"]
