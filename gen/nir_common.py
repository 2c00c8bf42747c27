"""What NIR export and import share: the nir package (and the releases flipspike supports), nodes with or
without ``v_reset``, and the layouts (flipspike's H, W, C against NIR's C, H, W)."""


from __future__ import annotations

import numpy as np

from flipspike.ir import LayerDesc
from flipspike.ir.errors import DescriptionError

#: The nir releases flipspike reads and writes (1.0.4 is the newest Sinabs 3.1 allows; 1.0.5 added v_reset).
NIR_VERSIONS = ((1, 0, 4), (1, 1, 0))


def _nir():
    try:
        import nir
    except ImportError:
        raise DescriptionError("NIR support needs the nir package: pip install 'nir>=1.0.4,<1.1'") from None
    version = _nir_version()
    if version is not None and not NIR_VERSIONS[0] <= version < NIR_VERSIONS[1]:
        raise DescriptionError(f"nir {'.'.join(map(str, version))} is installed; flipspike reads and writes NIR "
                               "with nir 1.0.4 up to 1.0.x: pip install 'nir>=1.0.4,<1.1'")
    return nir


def _nir_version() -> tuple[int, ...] | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        text = version("nir")
    except PackageNotFoundError:
        return None
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def _with_reset(cls, v_reset, **fields):
    """A LIF/IF node with ``v_reset`` where this nir has the field (from 1.0.5), else without."""
    import dataclasses
    if "v_reset" in {f.name for f in dataclasses.fields(cls)}:
        fields["v_reset"] = v_reset
    return cls(**fields)


def _signs(layer: LayerDesc) -> np.ndarray:
    return layer.weights.astype(np.float64) * 2 - 1


def _chw_columns(shape) -> np.ndarray:
    """For a flattened (H, W, C) map: the HWC index of each position of the C, H, W flattening."""
    h, w, c = shape
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def _chw(shape) -> np.ndarray:
    """Our (H, W, C) as NIR's (C, H, W); vectors unchanged."""
    return np.array([shape[2], shape[0], shape[1]] if len(shape) == 3 else list(shape))


def _hwc(dims) -> tuple:
    """NIR's (C, H, W) as our (H, W, C); a vector as (N,)."""
    return (dims[1], dims[2], dims[0]) if len(dims) == 3 else (int(np.prod(dims)),)



