"""The sandbox layer: run one program under every isolation layer and report precisely.

Nothing above this package (pool, languages, runner, api) is imported from here. Import
the modules themselves: this package's namespace stays empty, so that a template spawner
importing one module (``template``) loads nothing else.
"""
