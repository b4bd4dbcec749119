"""The C side of template sandboxes (``native/execbox_init.c``): built once, fed plans.

Parent side only. ``binary`` compiles the source with the host's C compiler into
``<dir>/execbox-init-<hash of the source>`` the first time it is needed (a static binary:
no loader, no libc mapping at each start), atomically, so concurrent servers agree;
``library`` builds the same source as the shared library the template spawner forks
programs with. ``encode`` turns what the init needs into its record format (1 tag byte, a
4-byte little-endian length, the payload); a program joining the sandbox reads the same
plan (its cgroup files, rlimits, uid, gid, bounding set and seccomp filter).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from importlib import resources

from execbox.errors import SandboxSetupError
from execbox.sandbox import mounts, rlimits

_SOURCE = "execbox_init.c"
_COMPILE_TIMEOUT_S = 120


def source() -> bytes:
    return (resources.files("execbox.sandbox") / "native" / _SOURCE).read_bytes()


def binary(directory: str, compiler: str | None = None) -> str:
    """The init's executable for this source, compiled into ``directory`` if missing."""
    return _build(directory, "execbox-init", ["-static", "-s"], compiler)


def library(directory: str, compiler: str | None = None) -> str:
    """The template spawner's ``execbox_fork_program`` (a shared library, same source)."""
    return _build(directory, "libexecbox-join", ["-shared", "-fPIC", "-DEXECBOX_LIBRARY"],
                  compiler, ".so")


def _build(directory: str, name: str, flags: list[str], compiler: str | None,
           suffix: str = "") -> str:
    text = source()
    path = os.path.join(directory,
                        f"{name}-{hashlib.sha256(text).hexdigest()[:16]}{suffix}")
    if os.access(path, os.R_OK):
        return path
    cc = compiler or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SandboxSetupError("building execbox's C init needs a C compiler (cc or gcc: "
                                "apt-get install gcc libc6-dev), and none was found")
    os.makedirs(directory, mode=0o755, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as work:
        src = os.path.join(work, _SOURCE)
        with open(src, "wb") as f:
            f.write(text)
        out = os.path.join(work, name)
        done = subprocess.run([cc, "-O2", *flags, "-o", out, src],
                              capture_output=True, timeout=_COMPILE_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise SandboxSetupError(f"building execbox's {name} failed: "
                                    + done.stderr.decode(errors="replace")[-2000:])
        os.chmod(out, 0o755)  # noqa: S103 - executed by root only, readable by all
        os.replace(out, path)  # atomic: a concurrent builder's identical file is fine
    return path


def _record(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("<I", len(payload)) + payload


def _u64(value: int) -> bytes:
    return struct.pack("<Q", value & 0xFFFF_FFFF_FFFF_FFFF)  # RLIM_INFINITY is -1


def encode(cgroup_files: tuple[str, ...], hostname: str, root: mounts.RootPlan,
           limits: tuple[rlimits.Rlimit, ...], last_cap: int, bpf: bytes,
           idle: bool) -> bytes:
    """The plan of one template sandbox, as execbox-init reads it from fd 4."""
    if root.pty:
        raise SandboxSetupError("a template sandbox has no terminal")
    out = [_record(b"C", f.encode()) for f in cgroup_files]
    out += [_record(b"H", hostname.encode()), _record(b"P", root.path.encode())]
    out += [_record(b"B", bytes([int(b.is_dir) | int(b.writable) << 1])
                    + b.source.encode() + b"\0" + b.target.encode()) for b in root.binds]
    out += [_record(b"L", path.encode() + b"\0" + target.encode())
            for path, target in root.links]
    out += [_record(b"M", m.encode()) for m in root.masks]
    out += [_record(b"U", struct.pack("<I", root.uid)), _record(b"G", struct.pack("<I", root.gid)),
            _record(b"K", struct.pack("<I", last_cap)), _record(b"W", _u64(root.work_bytes)),
            _record(b"T", _u64(root.tmp_bytes)), _record(b"I", _u64(root.inodes))]
    out += [_record(b"R", struct.pack("<I", r.resource) + _u64(r.soft) + _u64(r.hard))
            for r in limits]
    out.append(_record(b"S", bpf))
    if idle:
        out.append(_record(b"D", b""))
    return b"".join(out)

