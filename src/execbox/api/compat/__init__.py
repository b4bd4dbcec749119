"""Adapters for the APIs real clients already speak; each only translates."""
