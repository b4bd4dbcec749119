"""Command line: translates arguments into settings and calls the layers below."""
