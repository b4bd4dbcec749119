"""The native API's request body (DESIGN.md, "Native API (v1)"), validated by pydantic."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

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


class TestIn(BaseModel):
    """One test of a judged request: the program's stdin and the answer to expect."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1)  # default: its position, from "1"
    stdin: str = ""
    expected_output: str | None = None  # None: any output (the run's status decides)


class TextCheckerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["exact", "lines", "tokens", "unordered"]

    def options(self) -> dict[str, float | bool]:
        return {}


class FloatCheckerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["float"]
    epsilon: float = Field(default=1e-6, ge=0, allow_inf_nan=False)
    relative: bool = False  # absolute or relative error <= epsilon (else absolute only)

    def options(self) -> dict[str, float | bool]:
        return {"epsilon": self.epsilon, "relative": self.relative}


class ProgramIn(BaseModel):
    """A problem's own program (an interactor) in any language, run sandboxed."""

    model_config = ConfigDict(extra="forbid")
    language: str = Field(min_length=1)
    version: str | None = None
    code: str | None = None
    files: list[FileIn] | None = None
    limits: LimitsIn | None = None
    compile_limits: LimitsIn | None = None

    def sandbox_files(self, default_name: str) -> tuple[SandboxFile, ...]:
        return sandbox_files(self.code, self.files, default_name)


class ProgramCheckerIn(ProgramIn):
    """A testlib-style checker program in any language, run sandboxed for each test."""

    type: Literal["program"]


CheckerName = Literal["exact", "lines", "tokens", "float", "unordered"]
CheckerIn = Annotated[TextCheckerIn | FloatCheckerIn | ProgramCheckerIn,
                      Field(discriminator="type")]
_CHECKER_NAMES = get_args(CheckerName)
_CHECKER: TypeAdapter[TextCheckerIn | FloatCheckerIn | ProgramCheckerIn] = \
    TypeAdapter(CheckerIn)


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
    tests: list[TestIn] | None = Field(default=None, min_length=1)
    checker: CheckerName | CheckerIn | None = None  # default (with tests): "tokens"
    stop_on_failure: bool = False  # with tests: run no test after a failed one
    interactor: ProgramIn | None = None  # with tests: an interactive problem's interactor

    @field_validator("checker", mode="before")
    @classmethod
    def _one_checker(cls, value: Any) -> Any:
        """A name or an object by its ``type``, with the error of that one (not of every
        form a checker may take)."""
        if isinstance(value, dict):
            try:
                return _CHECKER.validate_python(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"][1:])
                raise ValueError(f"{where + ': ' if where else ''}{first['msg']}") from None
        if isinstance(value, str) and value not in _CHECKER_NAMES:
            raise ValueError(f"unknown checker {value!r} (known: {', '.join(_CHECKER_NAMES)}"
                             ", or an object with a type: ..., program)")
        return value

    def sandbox_files(self, default_name: str) -> tuple[SandboxFile, ...]:
        """``code`` or ``files`` (the first file is the entry point) as sandbox files."""
        return sandbox_files(self.code, self.files, default_name)


def sandbox_files(code: str | None, files: list[FileIn] | None,
                  default_name: str) -> tuple[SandboxFile, ...]:
    """``code`` or ``files`` (the first file is the entry point) as sandbox files."""
    if (code is None) == (files is None or not files):
        raise ConfigError("give either code or a non-empty files list")
    if code is not None:
        return (SandboxFile(default_name, code.encode()),)
    assert files is not None
    out = []
    for i, f in enumerate(files):
        name = f.name or (default_name if i == 0 else "")
        if not name:
            raise ConfigError(f"file {i} needs a name (only the first may omit it)")
        out.append(SandboxFile(name, f.decoded()))
    return tuple(out)
