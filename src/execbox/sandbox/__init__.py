"""The sandbox layer: run one program under every isolation layer and report precisely.

Nothing above this package (pool, languages, runner, api) is imported from here.
"""

from execbox.sandbox.backend import SandboxBackend
from execbox.sandbox.fake import FakeBackend
from execbox.sandbox.spec import BindMount, SandboxFile, SandboxSettings, SandboxSpec

__all__ = [
    "BindMount",
    "FakeBackend",
    "SandboxBackend",
    "SandboxFile",
    "SandboxSettings",
    "SandboxSpec",
]
