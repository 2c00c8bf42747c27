import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def build_root() -> Path:
    """Verilator builds are cached by content here, so a re-run of the suite reuses them."""
    path = Path(os.environ.get("FLIPSPIKE_TEST_BUILD", REPO / "build" / "test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """The README's digits network: 64-128-10, STBP, T=4, 30 epochs, seed 0."""
    from flipspike.sw.model import ModelConfig
    from flipspike.sw.train import TrainConfig, train

    out = tmp_path_factory.mktemp("digits_run")
    metrics = train(ModelConfig("64-128-10", timesteps=4), TrainConfig(epochs=30, seed=0), out, progress=False)
    return out, metrics


@pytest.fixture(scope="session")
def digits_desc(digits_run):
    from flipspike.sw.export import export_model
    from flipspike.sw.train import load_run

    model, _ = load_run(digits_run[0])
    return export_model(model, pixel_bits=5, pixel_max=16, frac_bits=4)


@pytest.fixture(scope="session")
def digits():
    from flipspike.sw.data import load_dataset
    return load_dataset("digits")
