"""Example models and their builder."""
