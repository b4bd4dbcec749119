"""The runner: compile once, run many tests against the artifacts."""
