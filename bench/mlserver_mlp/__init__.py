"""An MLServer runtime serving the benchmark's TorchScript MLP (runs inside MLServer's venv)."""
