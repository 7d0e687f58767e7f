"""Model artifacts for the agent: storage URIs, a content-addressed cache, safe extraction.

The agent calls `ArtifactCache.fetch(storage_uri)` from a worker thread before it starts a
runtime and hands the runtime `FetchResult.path`. Every failure is an `ArtifactError` whose
message can be shown to the user as the replica's `LoadFailed` reason.
"""

from agent.artifacts.cache import ArtifactCache, FetchResult
from agent.artifacts.errors import ArtifactError
from agent.artifacts.uri import StorageUri, parse_storage_uri

__all__ = ["ArtifactCache", "ArtifactError", "FetchResult", "StorageUri", "parse_storage_uri"]
