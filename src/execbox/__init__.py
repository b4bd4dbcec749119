"""execbox: run untrusted code in many languages, fast, behind layers of isolation."""

__version__ = "0.1.0"
