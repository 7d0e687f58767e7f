"""The fake scheduler and CLI runner fixtures (`fake`, `address`, `cli`) for admin commands."""

from tests.loadmaster.cli.harness import address, cli, fake

__all__ = ["address", "cli", "fake"]
