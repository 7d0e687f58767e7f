"""Shared code: protocol codec, resources, configuration, logging, metrics, CLI."""
