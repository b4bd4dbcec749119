"""The default seccomp deny-list: syscall name -> (action, reason).

How each action is chosen:

* ``kill``: calls that are hostile in a sandbox (escape tricks, other processes' memory,
  kernel code, host-wide settings) and that no program under test needs. The process dies
  by SIGSYS, so the run's status is ``blocked_syscall`` and the attempt is counted, rather
  than the program carrying on quietly.
* ``eperm``: calls that well-behaved runtimes, libraries and tools probe and then work
  without. EPERM is what an unprivileged caller gets from the kernel anyway, so they fall
  back or report an error instead of dying.
* ``enosys``: calls whose callers check for "not implemented" and fall back (io_uring ->
  epoll or threads, clone3 -> clone, the new mount API -> mount(2)).

Anything not listed is allowed. ``fork``, ``vfork``, ``clone`` without CLONE_NEW* flags,
threads, ``execve``, ``mmap``, signals and ``socket`` must keep working (networking is
stopped by the empty network namespace, not here). ``clone`` with namespace flags and
``ioctl(TIOCSTI/TIOCLINUX)`` are argument rules built in ``seccomp.py``; ``personality``
is listed here but only filters persona changes (the query 0xffffffff and PER_LINUX pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

ActionName = Literal["kill", "eperm", "enosys"]

_PTRACE = "reads and writes other processes' memory and registers: injection and escape tool"
_MODULES = "loads or removes kernel code"
_KEXEC = "replaces the running kernel"
_CLOCK_SET = "sets the host clock, which no namespace isolates"
_MOUNT = ("the filesystem view is fixed by the sandbox; tools that try it expect EPERM "
          "from an unprivileged caller and report it")
_NEW_MOUNT_API = ("new mount API: libmount (util-linux >= 2.39) and systemd fall back to "
                  "mount(2) on ENOSYS, which then fails with EPERM like an old kernel")
_IO_URING = ("io_uring is the largest recent source of kernel privilege escalations; libuv, "
             "tokio and liburing users fall back to epoll/threads on ENOSYS")
_NAMESPACES = ("new namespaces (above all user namespaces) reopen kernel attack surface; "
               "Chromium/Electron, bubblewrap and test runners try them and fall back on EPERM")
_KEYS = ("kernel keyrings are not namespaced per sandbox; krb5/libkeyutils fall back on "
         "EPERM (Docker's default profile answers EPERM too)")
_CLOCK_ADJ = ("modes=0 is a read-only status query that NTP-aware code makes; it must fail "
              "softly, and changing the clock needs CAP_SYS_TIME anyway")
_UTS = "the uts namespace is private, but a program has no reason to rename the host"

DEFAULT_RULES: Final[Mapping[str, tuple[ActionName, str]]] = MappingProxyType({
    # --- kill: hostile, and no program under test needs them -------------------------
    "ptrace": ("kill", _PTRACE + "; no judged program needs a debugger"),
    "process_vm_readv": ("kill", "reads another process's memory (ptrace by another name)"),
    "process_vm_writev": ("kill", "writes another process's memory (ptrace by another name)"),
    "pidfd_getfd": ("kill", "steals an open descriptor from another process"),
    "kexec_load": ("kill", _KEXEC),
    "kexec_file_load": ("kill", _KEXEC),
    "init_module": ("kill", _MODULES),
    "finit_module": ("kill", _MODULES),
    "delete_module": ("kill", _MODULES),
    "bpf": ("kill", "eBPF verifier and JIT: a large kernel surface with a long CVE history"),
    "userfaultfd": ("kill", "the usual primitive for winning kernel race exploits; only "
                            "CRIU/QEMU live migration use it"),
    "iopl": ("kill", "raw hardware I/O port access"),
    "ioperm": ("kill", "raw hardware I/O port access"),
    "reboot": ("kill", "reboots the host (or kills the pid namespace's init)"),
    "swapon": ("kill", "host-wide swap configuration"),
    "swapoff": ("kill", "host-wide swap configuration"),
    "acct": ("kill", "host-wide process accounting"),
    "quotactl": ("kill", "filesystem quota administration"),
    "quotactl_fd": ("kill", "filesystem quota administration"),
    "lookup_dcookie": ("kill", "oprofile leftover that exposes kernel dentry cookies"),
    "open_by_handle_at": ("kill", "opens any inode by handle, bypassing the mount tree: the "
                                  "'shocker' container escape"),
    "settimeofday": ("kill", _CLOCK_SET),
    "clock_settime": ("kill", _CLOCK_SET),
    "nfsservctl": ("kill", "removed in Linux 3.1; only old-kernel exploits call it"),
    "vhangup": ("kill", "hangs up the controlling terminal"),
    "fanotify_init": ("kill", "filesystem-wide monitoring of other users' file access"),
    "uselib": ("kill", "obsolete a.out library loader with a history of exploits"),
    # --- eperm: probed by ordinary software, which then carries on ------------------
    "mount": ("eperm", _MOUNT),
    "umount2": ("eperm", _MOUNT),
    "pivot_root": ("eperm", _MOUNT),
    "chroot": ("eperm", _MOUNT),
    "unshare": ("eperm", _NAMESPACES),
    "setns": ("eperm", _NAMESPACES),
    "sethostname": ("eperm", _UTS),
    "setdomainname": ("eperm", _UTS),
    "personality": ("eperm", "argument rule: only the query (0xffffffff) and PER_LINUX (0) "
                             "pass; ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC etc. weaken the "
                             "program's hardening; runtimes that try it (SBCL) carry on"),
    "perf_event_open": ("eperm", "large attack surface that leaks kernel addresses; "
                                 "benchmark/profiling libraries fall back (perf_event_paranoid "
                                 "answers EPERM too)"),
    "keyctl": ("eperm", _KEYS),
    "add_key": ("eperm", _KEYS),
    "request_key": ("eperm", _KEYS),
    "name_to_handle_at": ("eperm", "only useful to open_by_handle_at; util-linux and systemd "
                                   "probe it for mount ids and fall back"),
    "kcmp": ("eperm", "compares other processes' kernel objects; Mesa and systemd use it to "
                      "compare file descriptions and fall back"),
    "syslog": ("eperm", "reads the kernel log (kernel addresses); dmesg gets EPERM under "
                        "dmesg_restrict as well and says so"),
    "adjtimex": ("eperm", _CLOCK_ADJ),
    "clock_adjtime": ("eperm", _CLOCK_ADJ),
    # --- enosys: callers fall back to an older interface ----------------------------
    "io_uring_setup": ("enosys", _IO_URING),
    "io_uring_enter": ("enosys", _IO_URING),
    "io_uring_register": ("enosys", _IO_URING),
    "clone3": ("enosys", "its flags sit in memory seccomp cannot read, so CLONE_NEW* could "
                         "not be filtered; glibc falls back to clone, whose flags are checked"),
    "fsopen": ("enosys", _NEW_MOUNT_API),
    "fsconfig": ("enosys", _NEW_MOUNT_API),
    "fsmount": ("enosys", _NEW_MOUNT_API),
    "fspick": ("enosys", _NEW_MOUNT_API),
    "move_mount": ("enosys", _NEW_MOUNT_API),
    "open_tree": ("enosys", _NEW_MOUNT_API),
    "mount_setattr": ("enosys", _NEW_MOUNT_API),
})
