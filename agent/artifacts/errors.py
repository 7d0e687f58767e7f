"""The one exception the artifact layer raises.

The agent turns it into a `LoadFailed` replica whose reason users read in `loadmaster get
model`, so every message names what was asked for (the storageUri, the archive entry, the URL)
and what to change; a bare `OSError` would leave them guessing which file or server failed.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """A model artifact cannot be made local; the message says which one and why."""
