"""Model runtimes: the only code in Loadmaster that imports torch or transformers.

Start at `agent.runtimes.select.create_runtime`; `agent.runtimes.base` holds the interface.
"""
