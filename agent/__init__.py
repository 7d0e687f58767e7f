"""Agent service: loads models onto local devices and serves them over OIP."""
