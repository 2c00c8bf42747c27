"""The integer network description: the contract between sw, gen, hw and sim.

numpy only -- no torch, no Amaranth -- so every other package may import it.

* :mod:`.formats`  -- every number format and register width, derived from worst-case bounds.
* :mod:`.netdesc`  -- the description itself: dataclasses, validation, the versioned file format.
* :mod:`.folding`  -- SIMD/PE folding of a layer onto hardware lanes.
* :mod:`.geometry` -- convolution shapes and the HWC activation layout.
"""

from .errors import DescriptionError, FoldingError
from .formats import LayerWidths, required_widths
from .folding import Fold, default_folding, parse_folding, validate_folding
from .geometry import ConvSpec
from .netdesc import InputSpec, LayerDesc, NetDesc, SCHEMA_VERSION

__all__ = [
    "DescriptionError", "FoldingError", "LayerWidths", "required_widths", "Fold", "default_folding",
    "parse_folding", "validate_folding", "InputSpec", "LayerDesc", "NetDesc", "SCHEMA_VERSION", "ConvSpec",
]
