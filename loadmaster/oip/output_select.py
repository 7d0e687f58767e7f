"""Which outputs a response carries: the ones the request named, in its order, or all.

Both transports apply the same rule, so it lives here once. Naming an output the model did
not produce is the client's mistake, reported with the outputs that do exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import InferResponse, RequestedOutput, Tensor


def select_outputs(
    response: InferResponse, requested: Sequence[RequestedOutput]
) -> list[tuple[Tensor, RequestedOutput | None]]:
    """Each output to send with the client's request for it (None when none were named)."""
    if not requested:
        return [(tensor, None) for tensor in response.outputs]
    produced = {tensor.name: tensor for tensor in response.outputs}
    chosen: list[tuple[Tensor, RequestedOutput | None]] = []
    for wanted in requested:
        tensor = produced.get(wanted.name)
        if tensor is None:
            names = ", ".join(repr(name) for name in produced) or "none"
            raise BadRequest(
                f"requested output {wanted.name!r} is not an output of model "
                f"{response.model!r} (it has {names})"
            )
        chosen.append((tensor, wanted))
    return chosen
