"""Array type names shared by the placement modules, so signatures say what each array holds."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_A = TypeVar("_A", bound=np.ndarray)


def frozen(array: _A) -> _A:
    """Mark a cached array read-only: a plugin that writes into a shared mask fails loudly."""
    array.flags.writeable = False
    return array
