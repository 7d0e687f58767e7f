"""Gateway service: the single front door for inference (issue 4)."""
