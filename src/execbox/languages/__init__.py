"""Languages as data: how to compile and run each, its runtime files and a self-test."""
