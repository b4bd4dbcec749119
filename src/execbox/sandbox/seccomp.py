"""The seccomp-bpf layer: a deny-list filter, compiled once per policy, loaded before exec.

The filter allows by default and denies a listed set of syscalls. Sandboxed programs are
whole language runtimes, so an allow-list would break them one release at a time; the
other layers (namespaces, a non-root uid, no capabilities, cgroups) carry the isolation,
and seccomp removes the kernel surface those layers still leave reachable. The list and
the reason for each entry live in ``seccomp_table``.

What a denied call gets (``Action``):

* ``KILL``: ``SECCOMP_RET_KILL_PROCESS``: every thread dies at once by SIGSYS, which the
  sandbox reports as ``blocked_syscall`` (libseccomp's plain KILL kills only the calling
  thread, which can leave a multi-threaded program hanging).
* ``EPERM`` / ``ENOSYS``: the call is not made and fails with that errno.

Rules built here on top of the table, because they look at arguments:

* ``clone`` with any CLONE_NEW* flag in its first argument (``deny_namespace_clone``);
  ``clone3`` gets ENOSYS unless the rules say otherwise, since its flags are in memory the
  filter cannot read and glibc falls back to ``clone`` on ENOSYS.
* ``ioctl(fd, TIOCSTI)`` (push input into a terminal) and ``TIOCLINUX``
  (``deny_tiocsti``), compared on the low 32 bits only: the kernel ignores the upper half
  of the request, so ``0x1_00005412`` must be caught too.
* ``personality``: only persona *changes* are denied; the query ``personality(0xffffffff)``
  and ``personality(PER_LINUX)`` still work (a short hand-written BPF prefix, see
  ``_personality_prefix``).

Architectures: only native x86_64 syscalls get through the rules. A call made with another
audit arch (i386 through ``int 0x80``) and an x32 call (nr | 0x40000000, same audit arch as
x86_64) hit libseccomp's bad-arch action, set here to KILL_PROCESS (its default is
KILL_THREAD).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import os
import struct
import types
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pyseccomp

from execbox.sandbox import libc
from execbox.sandbox.seccomp_table import DEFAULT_RULES

SIGSYS_MEANS_BLOCKED: str = "SIGSYS"
"""A sandboxed process that died by this signal was killed by the filter (KILL rules)."""

# clone(2)'s namespace flags. CLONE_NEWTIME (0x80) is absent on purpose: in clone(2) the
# low byte is the exit signal, so the kernel does not read 0x80 as a flag there (only
# unshare and clone3 take it; the default policy denies both outright).
_NAMESPACE_CLONE_FLAGS = (
    libc.CLONE_NEWNS,
    libc.CLONE_NEWCGROUP,
    libc.CLONE_NEWUTS,
    libc.CLONE_NEWIPC,
    libc.CLONE_NEWUSER,
    libc.CLONE_NEWPID,
    libc.CLONE_NEWNET,
)
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_LOW32 = 0xFFFFFFFF
# classic BPF for the personality prefix (linux/filter.h), offsets in struct seccomp_data
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x15, 0x06
_DATA_NR, _DATA_ARCH, _DATA_ARG0_LOW32 = 0, 4, 16  # little-endian: args[0]'s low half
_OPTIMIZE_BINARY_TREE = 2  # libseccomp >= 2.5: dispatch on the syscall number in O(log n)


class Action(enum.Enum):
    """What a denied syscall gets."""

    EPERM = "eperm"
    ENOSYS = "enosys"
    KILL = "kill"  # SECCOMP_RET_KILL_PROCESS: the process dies by SIGSYS


def syscall_number(name: str) -> int:
    """The x86_64 number of ``name``; ValueError if it is not a syscall on this architecture."""
    if not isinstance(name, str):
        raise TypeError(f"a syscall name is a str, not {type(name).__name__}")
    nr = int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))
    if nr < 0:  # -1: unknown to libseccomp; <= -10000: a pseudo-syscall of another arch
        raise ValueError(f"unknown syscall {name!r} (not a syscall on this architecture)")
    return nr


@dataclass(frozen=True)
class SeccompPolicy:
    """Which syscalls are denied and how. Immutable and hashable (``compile_bpf`` caches)."""

    rules: Mapping[str, Action]
    """syscall name -> action; syscalls not listed are allowed."""
    deny_namespace_clone: Action = Action.EPERM
    """for clone with any CLONE_NEW* flag (clone3 gets ENOSYS unless ``rules`` name it)."""
    deny_tiocsti: Action = Action.EPERM
    """for ioctl(fd, TIOCSTI) and ioctl(fd, TIOCLINUX)."""

    def __post_init__(self) -> None:
        rules = dict(self.rules)
        for name, action in rules.items():
            syscall_number(name)
            _check_action(action, f"rules[{name!r}]")
        _check_action(self.deny_namespace_clone, "deny_namespace_clone")
        _check_action(self.deny_tiocsti, "deny_tiocsti")
        # a private read-only copy: later changes to the caller's dict cannot leak in
        object.__setattr__(self, "rules", types.MappingProxyType(rules))

    def __hash__(self) -> int:
        return hash((frozenset(self.rules.items()), self.deny_namespace_clone,
                     self.deny_tiocsti))

    def with_overrides(self, overrides: Mapping[str, Action]) -> SeccompPolicy:
        """A copy whose rules are these rules updated with ``overrides``."""
        return replace(self, rules={**self.rules, **overrides})


def _check_action(action: object, where: str) -> None:
    if not isinstance(action, Action):
        raise TypeError(f"{where} must be an Action, not {action!r}")


def default_policy() -> SeccompPolicy:
    """The policy of ``seccomp_table.DEFAULT_RULES``, with namespace clone and TIOCSTI denied."""
    return SeccompPolicy(rules={name: Action(act) for name, (act, _) in DEFAULT_RULES.items()})


def _seccomp_action(action: Action) -> int:
    if action is Action.KILL:
        return int(pyseccomp.KILL_PROCESS)
    return int(pyseccomp.ERRNO(errno.EPERM if action is Action.EPERM else errno.ENOSYS))


def _masked_eq(arg: int, mask: int, value: int) -> pyseccomp.Arg:
    return pyseccomp.Arg(arg, pyseccomp.MASKED_EQ, mask, value)


@functools.lru_cache(maxsize=32)
def compile_bpf(policy: SeccompPolicy) -> bytes:
    """The classic-BPF program for ``policy`` (8 bytes per instruction), cached per policy."""
    filt = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    filt.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
    with contextlib.suppress(OSError):  # older libseccomp: a linear filter, same decisions
        filt.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, _OPTIMIZE_BINARY_TREE)
    rules = policy.rules
    for name, action in sorted(rules.items()):
        if name != "personality":  # an argument rule, in the prefix below
            filt.add_rule(_seccomp_action(action), name)
    if "clone3" not in rules:
        filt.add_rule(_seccomp_action(Action.ENOSYS), "clone3")
    if "clone" not in rules:  # an unconditional clone rule already covers these
        deny = _seccomp_action(policy.deny_namespace_clone)
        for flag in _NAMESPACE_CLONE_FLAGS:
            filt.add_rule(deny, "clone", _masked_eq(0, flag, flag))
    if "ioctl" not in rules:
        deny = _seccomp_action(policy.deny_tiocsti)
        for request in (_TIOCSTI, _TIOCLINUX):
            filt.add_rule(deny, "ioctl", _masked_eq(1, _LOW32, request))
    program = _export_bpf(filt)
    if "personality" in rules:
        program = _personality_prefix(_seccomp_action(rules["personality"])) + program
    return program


def _personality_prefix(deny: int) -> bytes:
    """Classic BPF run before libseccomp's program: deny persona changes, else fall through.

    Allowed: the low 32 bits (the kernel takes an unsigned int) are 0 (PER_LINUX) or
    0xffffffff (the query). libseccomp takes one comparison per argument per rule, so that
    set costs 32 masked rules (~100 instructions), which doubled the filter's load time
    (median ~370 vs ~175 us in a forked child, measured interleaved). Classic BPF jumps
    are relative, so a prefix whose every other path lands just past its end hands over to
    libseccomp's program as if it ran alone. x32 and foreign-arch calls fall through to
    libseccomp's arch checks.
    """
    end = 8  # instructions in this prefix; "to end" = end - (index + 1)
    insns = (
        (_BPF_LD_W_ABS, 0, 0, _DATA_ARCH),
        (_BPF_JEQ_K, 0, end - 2, int(pyseccomp.system_arch())),
        (_BPF_LD_W_ABS, 0, 0, _DATA_NR),
        (_BPF_JEQ_K, 0, end - 4, syscall_number("personality")),
        (_BPF_LD_W_ABS, 0, 0, _DATA_ARG0_LOW32),
        (_BPF_JEQ_K, end - 6, 0, 0),  # PER_LINUX
        (_BPF_JEQ_K, end - 7, 0, _LOW32),  # the query
        (_BPF_RET_K, 0, 0, deny),
    )
    return b"".join(struct.pack("<HBBI", *insn) for insn in insns)


def _export_bpf(filt: pyseccomp.SyscallFilter) -> bytes:
    fd = os.memfd_create("execbox-seccomp-bpf", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b", buffering=0) as f:
        filt.export_bpf(f)
        f.seek(0)
        program = f.read()
    if not program or len(program) % 8:
        raise RuntimeError(f"libseccomp exported a {len(program)}-byte BPF program")
    return program


def load(bpf: bytes) -> None:
    """Install ``bpf`` on the calling thread. Child side, right before exec.

    The caller sets no_new_privs first (or holds CAP_SYS_ADMIN). Imports nothing and
    builds nothing: ``bpf`` comes from ``compile_bpf`` in the parent.
    """
    libc.seccomp_load_bpf(bpf)
