"""Third-party OIP clients, each run in its own process (brief §7: one `inference` package each).

Only `samples` may be imported by the pytest process; the other modules import tritonclient or
the KServe SDK and are run with `python -m tests.integration.clients.<name>` from the repo root.
"""
