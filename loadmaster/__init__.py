"""Shared code: protocol codec, resources, configuration, logging, metrics, CLI."""

__version__ = "0.1.0"
