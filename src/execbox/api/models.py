"""The native API's request body (DESIGN.md, "Native API (v1)"), validated by pydantic."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from execbox.errors import ConfigError
from execbox.sandbox.spec import SandboxFile


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    content: str
    encoding: Literal["utf8", "base64"] = "utf8"

    def decoded(self) -> bytes:
        if self.encoding == "utf8":
            return self.content.encode()
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"file {self.name or '(unnamed)'}: bad base64: {exc}") from exc


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cpu_time_ms: int | None = Field(default=None, gt=0)
    wall_time_ms: int | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    processes: int | None = Field(default=None, gt=0)
    output_bytes: int | None = Field(default=None, gt=0)
    file_size_mb: int | None = Field(default=None, gt=0)

    def given(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = Field(min_length=1)
    version: str | None = None
    code: str | None = None
    files: list[FileIn] | None = None
    stdin: str = ""
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    limits: LimitsIn | None = None
    compile_limits: LimitsIn | None = None
    tests: list[Any] | None = None
    checker: Any = None

    def sandbox_files(self, default_name: str) -> tuple[SandboxFile, ...]:
        """``code`` or ``files`` (the first file is the entry point) as sandbox files."""
        if (self.code is None) == (self.files is None or not self.files):
            raise ConfigError("give either code or a non-empty files list")
        if self.code is not None:
            return (SandboxFile(default_name, self.code.encode()),)
        assert self.files is not None
        out = []
        for i, f in enumerate(self.files):
            name = f.name or (default_name if i == 0 else "")
            if not name:
                raise ConfigError(f"file {i} needs a name (only the first may omit it)")
            out.append(SandboxFile(name, f.decoded()))
        return tuple(out)
