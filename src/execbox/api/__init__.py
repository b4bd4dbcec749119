"""HTTP: the native API (v1). Handlers translate to and from the runner; no logic here."""
