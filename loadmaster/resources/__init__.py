"""Resources (brief §2): Model specs as records, their validation, and their YAML form."""

from loadmaster.resources.model_spec import ModelSpec, check_spec, spec_from_proto, spec_to_proto
from loadmaster.resources.yaml_docs import ResourceError, load_resource_files, load_resources

__all__ = [
    "ModelSpec",
    "ResourceError",
    "check_spec",
    "load_resource_files",
    "load_resources",
    "spec_from_proto",
    "spec_to_proto",
]
