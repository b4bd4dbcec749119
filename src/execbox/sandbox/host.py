"""What this host can do, layer by layer: the facts behind `execbox doctor`.

Each check forks a throw-away child where it must try a kernel feature for real (a
namespace, a mount, a seccomp filter), so the answer is the kernel's, not a guess from
version numbers. A required layer that fails makes the sandbox refuse to start; the
optional ones (user namespaces, KVM, gVisor) only inform.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from execbox.errors import ExecboxError, SandboxSetupError
from execbox.sandbox import libc, native_init, seccomp
from execbox.sandbox.cgroups import CgroupSettings, detect
from execbox.sandbox.namespaces import NAMESPACE_NAMES


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _in_child(action: Callable[[], None]) -> str | None:
    """Run ``action`` in a forked child; None if it worked, else the error text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            action()
            os._exit(0)
        except BaseException as exc:
            os.write(w, f"{type(exc).__name__}: {exc}".encode()[:500])
            os._exit(1)
    os.close(w)
    message = b""
    while chunk := os.read(r, 512):
        message += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return message.decode(errors="replace") or f"child failed with status {status}"


def check_root() -> Check:
    ok = os.geteuid() == 0
    return Check("root", ok, "running as root" if ok else
                 "the namespace backend needs root to build sandboxes (it then drops to an "
                 "unprivileged uid inside each)")


def check_namespace(name: str, flag: int) -> Check:
    error = _in_child(lambda: libc.unshare(flag))
    works = f"unshare(CLONE_NEW{name.upper()}) works"
    return Check(f"namespace:{name}", error is None, error or works)


def check_user_namespace() -> Check:
    error = _in_child(lambda: libc.unshare(libc.CLONE_NEWUSER))
    return Check("namespace:user", error is None,
                 (error or "available") + " (not used: sandboxes run as an unprivileged host "
                 "uid with no capabilities)", required=False)


def _mount_tmpfs() -> None:
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount("none", "/", "", libc.MS_REC | libc.MS_PRIVATE)
    libc.mount("tmpfs", "/mnt", "tmpfs", 0, "size=1m")
    os.mkdir("/mnt/new")
    os.chdir("/mnt")
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)


def check_mounts() -> Check:
    error = _in_child(_mount_tmpfs)
    return Check("mounts", error is None, error or "private mount namespace, tmpfs, pivot_root")


def _isolated_network() -> None:
    libc.unshare(libc.CLONE_NEWNET)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", 9))
    except OSError:
        return
    raise RuntimeError("connected to 127.0.0.1 from a fresh network namespace")


def check_network() -> Check:
    error = _in_child(_isolated_network)
    return Check("network", error is None,
                 error or "a fresh network namespace reaches nothing, not even 127.0.0.1")


def check_seccomp() -> Check:
    try:
        bpf = seccomp.compile_bpf(seccomp.default_policy())
    except (OSError, ExecboxError, ValueError) as exc:
        return Check("seccomp", False, f"cannot build the filter with libseccomp: {exc}")

    def load() -> None:
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        libc.seccomp_load_bpf(bpf)

    error = _in_child(load)
    return Check("seccomp", error is None,
                 error or f"filter of {len(bpf) // 8} BPF instructions loads")


def check_cgroups(settings: CgroupSettings) -> Check:
    try:
        driver = detect(settings)
    except ExecboxError as exc:
        return Check("cgroups", False, str(exc))
    problems = driver.problems()
    if problems:
        return Check("cgroups", False, f"cgroup v{driver.version}: " + "; ".join(problems))
    return Check("cgroups", True, f"cgroup v{driver.version}: memory, pids and cpu "
                 "accounting writable")


def check_kvm() -> Check:
    if not os.path.exists("/dev/kvm"):
        return Check("kvm", False, "/dev/kvm absent: no microVM backend", required=False)
    if os.path.exists("/sys/module/kvm_pvm"):
        return Check("kvm", False, "/dev/kvm is kvm_pvm (paravirtualised): hardware-"
                     "virtualised guests cannot run, no microVM backend", required=False)
    return Check("kvm", True, "/dev/kvm present", required=False)


def check_gvisor() -> Check:
    runsc = shutil.which("runsc")
    return Check("gvisor", runsc is not None,
                 f"runsc at {runsc}" if runsc else "runsc not installed: no gVisor backend",
                 required=False)


def check_native_init() -> Check:
    """Template sandboxes (Python's default) need execbox's C init, built from source."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            native_init.binary(tmp)
            native_init.library(tmp)
        except (OSError, SandboxSetupError, subprocess.SubprocessError) as exc:
            return Check("native-init", False, f"{exc} (or run Python with zygote_mode "
                         "\"exec\")")
    return Check("native-init", True, "execbox's C init and join library build (cc)")


def run_checks(cgroup_settings: CgroupSettings) -> list[Check]:
    checks = [check_root()]
    if checks[0].ok:
        checks += [check_namespace(n, f) for n, f in NAMESPACE_NAMES.items()]
        checks += [check_user_namespace(), check_mounts(), check_network()]
    checks += [check_seccomp(), check_cgroups(cgroup_settings), check_native_init(),
               check_kvm(), check_gvisor()]
    return checks
