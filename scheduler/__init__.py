"""Scheduler service: the only writer of placement (issue 3)."""
