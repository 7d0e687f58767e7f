"""Worker processes: each holds its own copy of every model the agent serves."""
