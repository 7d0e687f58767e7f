"""Reading a REST request body under the gateway's size bound, for every REST door."""

from __future__ import annotations

from aiohttp import web

from loadmaster.oip import errors


async def read_bounded_body(request: web.Request, limit: int) -> bytes:
    """The whole body; PayloadTooLarge (413) when it is declared or turns out above `limit`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise errors.PayloadTooLarge(
            f"request body of {declared} bytes exceeds the {limit} byte limit"
        )
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.PayloadTooLarge(f"request body exceeds the {limit} byte limit") from None
