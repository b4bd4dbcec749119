"""The attack suite: every program under ``tests/attacks/`` run in a real sandbox.

Each attack is a directory with ``expect.toml`` and one program per language
(``main.py``, ``main.c``, ``main.sh``); see ``tests/attacks/README.md`` for the format.
For each (attack, language) this module

1. compiles C inside a sandbox (once per source and session),
2. snapshots the host: processes with a sandbox uid, ``box-*`` cgroups under the suite's
   cgroup parent that hold a process, the mount table, sentinel files, the hostname,
3. runs the program with the host's bait in its environment (``SECRET_PATH``,
   ``TMP_SENTINEL``, ``LISTEN_PORT``, ``ABSTRACT_SOCKET``... see ``Host.env``),
4. asserts the expected status/limit, no ``ESCAPED`` on stdout, ``CONTAINED`` printed
   where the attack says so, no host secret in any output or collected file,
5. asserts that only the exiting init is left when ``run`` returns and, once the backend's
   teardown is done, that the host is exactly as before: no sandbox process, no busy cgroup
   (and once the backend is closed, no cgroup at all),
   the same mounts, the sentinel files untouched, nothing reached the host's listeners.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import socket
import stat
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from execbox.sandbox.cgroups import CgroupSettings
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import LimitKind, Limits, StageResult, Status

pytestmark = pytest.mark.root

ATTACKS_DIR = Path(__file__).resolve().parent.parent / "attacks"
SECRET_ENV_NAME = "EXECBOX_TEST_SECRET"
# The suite's sandboxes get a uid range, slot directory and cgroup parent of their own, so
# that the "host exactly as before" checks see only what this suite started, even while
# other execbox processes (servers, other test runs) use the defaults on the same host.
BLOCK_LOCKS = "/run/execbox-attacks"
BLOCK_UID_BASE = 1_900_000  # far from the default range [900000, 900256)
BLOCK_SLOTS = 16

# language -> (program file, argv inside the sandbox). Python runs unbuffered so that an
# ESCAPED line printed just before the program is killed still reaches the harness.
LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "py": ("main.py", ("/usr/bin/python3", "-u", "main.py")),
    # the same program forked from a template spawner into a warm sandbox (template.py):
    # the program joins the sandbox from outside, so it is attacked on its own
    "py-template": ("main.py", ("/usr/bin/python3", "-u", "main.py")),
    "sh": ("main.sh", ("/bin/bash", "main.sh")),
    "c": ("main.c", ("./main",)),
}
TEMPLATE = ("/usr/bin/python3", "execbox.languages.zygotes.python_zygote:run")
COMPILE_ARGV = ("/usr/bin/gcc", "-O2", "-pthread", "-o", "main", "main.c")
COMPILE_LIMITS = Limits(cpu_time_ms=20000, wall_time_ms=30000, memory_mb=512, processes=64,
                        output_bytes=1 << 20)
DEFAULT_LIMITS = Limits(cpu_time_ms=1000, wall_time_ms=2000, memory_mb=64, processes=32,
                        output_bytes=65536, file_size_mb=16)

KEYS = {"description", "status", "limit", "signal", "exit_code", "expect_contained",
        "stdin", "limits", "collect", "files_absent", "stdout_truncated", "limits_hit",
        "max_seconds", "lang"}
LANG_KEYS = KEYS - {"description", "lang"}


# --- the expectations ----------------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    description: str
    status: tuple[Status, ...]
    limit: tuple[LimitKind | None, ...] | None = None  # None: not checked; "none" in toml
    signal: tuple[str | None, ...] | None = None  # None: not checked; "none" in toml
    exit_code: int | None = None
    expect_contained: bool = False
    stdin: bytes = b""
    limits: Limits = DEFAULT_LIMITS
    collect: tuple[str, ...] = ()
    files_absent: tuple[str, ...] = ()
    stdout_truncated: bool | None = None
    limits_hit: tuple[LimitKind, ...] = ()
    max_seconds: float | None = None


def _tuple(value: Any, kind: Callable[[Any], Any]) -> tuple[Any, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(kind(v) for v in values)


def _limit_kind(name: str) -> LimitKind | None:
    return None if name == "none" else LimitKind(name)


def _signal(name: str) -> str | None:
    return None if name == "none" else name


def load_expect(attack_dir: Path, lang: str) -> Expect:
    """expect.toml, with the ``[lang.<lang>]`` table laid over the top level."""
    doc = tomllib.loads((attack_dir / "expect.toml").read_text())
    unknown = set(doc) - KEYS
    if unknown:
        raise ValueError(f"{attack_dir.name}: unknown keys {sorted(unknown)}")
    override = dict(doc.get("lang", {}).get(lang.partition("-")[0], {}))
    unknown = set(override) - LANG_KEYS
    if unknown:
        raise ValueError(f"{attack_dir.name} [lang.{lang}]: unknown keys {sorted(unknown)}")
    limits = {**doc.get("limits", {}), **override.pop("limits", {})}
    merged = {k: v for k, v in doc.items() if k not in ("lang", "limits")} | override
    return Expect(
        description=merged["description"],
        status=_tuple(merged["status"], Status),
        limit=_tuple(merged["limit"], _limit_kind) if "limit" in merged else None,
        signal=_tuple(merged["signal"], _signal) if "signal" in merged else None,
        exit_code=merged.get("exit_code"),
        expect_contained=bool(merged.get("expect_contained", False)),
        stdin=merged.get("stdin", "").encode(),
        limits=DEFAULT_LIMITS.merged(limits),
        collect=tuple(merged.get("collect", ())),
        files_absent=tuple(merged.get("files_absent", ())),
        stdout_truncated=merged.get("stdout_truncated"),
        limits_hit=_tuple(merged.get("limits_hit", []), LimitKind),
        max_seconds=merged.get("max_seconds"),
    )


def discover() -> list[tuple[str, str]]:
    cases = []
    for d in sorted(p for p in ATTACKS_DIR.iterdir() if p.is_dir()):
        for lang, (filename, _) in LANGUAGES.items():
            if lang == "py-template" and "collect" in (d / "expect.toml").read_text():
                continue  # a template sandbox collects no files (nothing the runner asks)
            if (d / filename).exists():
                cases.append((d.name, lang))
    return cases


CASES = discover()


# --- the host's bait and the host's state ----------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_libc.shmdt.argtypes = (ctypes.c_void_p,)
IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0


@dataclass
class Host:
    """Everything the host exposes for the attacks to go after, and what it must keep."""

    secret_dir: Path
    secret_path: Path  # world-readable: only the mount namespace hides it
    tmp_sentinel: Path  # world-writable file in the host's /tmp
    secret: str  # the environment variable's value
    file_secret: str  # the secret file's content
    tcp: socket.socket
    udp: socket.socket
    abstract: socket.socket
    abstract_name: str
    unix: socket.socket
    unix_path: Path
    canary: subprocess.Popen[bytes]
    shm_key: int
    shm_id: int
    settings: SandboxSettings = field(default_factory=SandboxSettings)
    watched: tuple[Path, ...] = ()
    secrets_to_hide: tuple[bytes, ...] = ()

    @property
    def cgroup_parent(self) -> str:
        return self.settings.cgroup.parent

    @property
    def uids(self) -> range:
        return range(self.settings.uid_base, self.settings.uid_base + self.settings.slots)

    @property
    def env(self) -> dict[str, str]:
        return {
            "SECRET_PATH": str(self.secret_path),
            "SECRET_DIR": str(self.secret_dir),
            "TMP_SENTINEL": str(self.tmp_sentinel),
            "LISTEN_PORT": str(self.tcp.getsockname()[1]),
            "UDP_PORT": str(self.udp.getsockname()[1]),
            "ABSTRACT_SOCKET": self.abstract_name,
            "UNIX_SOCKET_PATH": str(self.unix_path),
            "HOST_PID": str(os.getpid()),
            "CANARY_PID": str(self.canary.pid),
            "HOST_HOSTNAME": socket.gethostname(),
            "SECRET_ENV_NAME": SECRET_ENV_NAME,
            "SHM_KEY": str(self.shm_key),
            "SANDBOX_UID_LOW": str(self.uids.start),
            "SANDBOX_UID_HIGH": str(self.uids.stop),
        }

    def listeners_untouched(self) -> list[str]:
        """What reached the host's sockets (nothing may)."""
        reached = []
        for name, sock in (("tcp 127.0.0.1", self.tcp), ("abstract unix", self.abstract),
                           ("unix socket file", self.unix)):
            try:
                conn, peer = sock.accept()
            except BlockingIOError:
                continue
            conn.close()
            reached.append(f"{name} accepted a connection from {peer!r}")
        try:
            data, peer = self.udp.recvfrom(65536)
        except BlockingIOError:
            pass
        else:
            reached.append(f"udp 127.0.0.1 got {data[:64]!r} from {peer!r}")
        return reached


def _nonblocking(sock: socket.socket) -> socket.socket:
    sock.setblocking(False)
    return sock


def _create_shm(secret: bytes) -> tuple[int, int]:
    """A world-readable SysV shared memory segment holding ``secret`` (ipc ns must hide it)."""
    for _ in range(32):
        key = secrets.randbelow(2**30) + 1
        shm_id = _libc.shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o666)
        if shm_id >= 0:
            break
        if ctypes.get_errno() != errno.EEXIST:
            raise OSError(ctypes.get_errno(), "shmget")
    else:
        raise RuntimeError("no free SysV shm key")
    addr = _libc.shmat(shm_id, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    ctypes.memmove(addr, secret, len(secret))
    _libc.shmdt(addr)
    return key, shm_id


@pytest.fixture(scope="module")
def settings() -> Iterator[SandboxSettings]:
    """Sandbox settings with a uid block, state dir and cgroup parent no one else uses."""
    os.makedirs(BLOCK_LOCKS, mode=0o700, exist_ok=True)
    for block in range(1, 64):
        fd = os.open(f"{BLOCK_LOCKS}/block-{block}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        break
    else:
        pytest.fail("no free uid block for the attack suite")
    name = f"execbox-attacks-{block}"
    state_dir = f"{BLOCK_LOCKS}/{name}"
    s = SandboxSettings(state_dir=state_dir,
                        uid_base=BLOCK_UID_BASE + block * BLOCK_SLOTS,
                        slots=BLOCK_SLOTS, cgroup=CgroupSettings(parent=name))
    try:
        yield s
    finally:
        for parent in execbox_cgroup_parents(name):
            os.rmdir(parent)  # empty by then: a leftover group makes this fail loudly
        shutil.rmtree(state_dir, ignore_errors=True)
        os.close(fd)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, settings: SandboxSettings) -> Iterator[Host]:
    token = secrets.token_hex(16)
    secret_dir = tmp_path_factory.mktemp("attack-secrets")
    os.chmod(secret_dir, 0o755)
    secret_path = secret_dir / "secret.txt"
    file_secret = f"file-secret-{secrets.token_hex(16)}"
    secret_path.write_text(file_secret + "\n")
    os.chmod(secret_path, 0o644)
    tmp_sentinel = Path(f"/tmp/execbox-attack-sentinel-{os.getpid()}")
    tmp_secret = f"tmp-secret-{secrets.token_hex(16)}"
    tmp_sentinel.write_text(tmp_secret + "\n")
    os.chmod(tmp_sentinel, 0o666)
    unix_path = Path(f"/tmp/execbox-attack-{os.getpid()}.sock")
    abstract_name = f"execbox-attack-{os.getpid()}-{secrets.token_hex(4)}"
    shm_secret = f"shm-secret-{secrets.token_hex(16)}"
    shm_key, shm_id = _create_shm(shm_secret.encode() + b"\0")

    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen()
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    os.chmod(unix_path, 0o777)
    unix.listen()
    canary = subprocess.Popen(["/bin/sleep", "600"])
    watched = tuple(p for p in (secret_path, tmp_sentinel, Path("/etc/hostname"),
                                Path("/etc/passwd"), Path("/etc/group"), Path("/etc/shadow"),
                                Path("/etc/hosts")) if p.exists())
    hide = [token, file_secret, tmp_secret, shm_secret]
    shadow = Path("/etc/shadow")
    if shadow.exists():  # its lines must never come out (symlink and read attacks)
        hide += [line for line in shadow.read_text().splitlines() if line.strip()]
    h = Host(secret_dir=secret_dir, secret_path=secret_path, tmp_sentinel=tmp_sentinel,
             secret=token, file_secret=file_secret, tcp=_nonblocking(tcp),
             udp=_nonblocking(udp), abstract=_nonblocking(abstract),
             abstract_name=abstract_name, unix=_nonblocking(unix), unix_path=unix_path,
             canary=canary, shm_key=shm_key, shm_id=shm_id, settings=settings,
             watched=watched,
             secrets_to_hide=tuple(s.encode() for s in hide))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_ENV_NAME, token)  # before the backend exists: it must not leak
        try:
            yield h
        finally:
            canary.kill()
            canary.wait()
            for s in (tcp, udp, abstract, unix):
                s.close()
            _libc.shmctl(shm_id, IPC_RMID, None)
            for p in (tmp_sentinel, unix_path):
                p.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def backend(host: Host) -> Iterator[NamespaceBackend]:
    assert os.environ.get(SECRET_ENV_NAME) == host.secret
    b = NamespaceBackend(host.settings)
    try:
        yield b
    finally:
        b.close()
    # the groups it kept for later sandboxes (leases.py) go with it: none is left
    assert leftover_cgroups(host.cgroup_parent, busy_only=False) == []


def sandbox_processes(uids: range) -> list[str]:
    """Every host process whose real, effective, saved or fs uid is in ``uids``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields_ = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        ids = [int(u) for u in fields_.get("Uid", "").split()]
        if any(u in uids for u in ids):
            found.append(f"pid {entry} uids {ids} {fields_.get('Name', '').strip()} "
                         f"state {fields_.get('State', '').strip()}")
    return found


def execbox_cgroup_parents(parent: str) -> list[Path]:
    """``<mount>/<own path>/<parent>`` of every v1 hierarchy this process is in."""
    mounts = []  # (mount point, root, super options)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        lf, rf = left.split(), right.split()
        if rf[0] == "cgroup":
            mounts.append((lf[4], lf[3], set(rf[2].split(","))))
    parents = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, own = line.split(":", 2)
        if hid == "0" or not controllers:
            continue
        wanted = set(controllers.split(","))
        for point, root, opts in mounts:
            if wanted <= opts and (own + "/").startswith(root.rstrip("/") + "/"):
                rel = own[len(root.rstrip("/")):].strip("/")
                path = Path(point, rel, parent) if rel else Path(point, parent)
                if path.is_dir() and path not in parents:
                    parents.append(path)
    return parents


def stray_processes(uids: range) -> list[str]:
    """Sandbox-uid processes other than an exiting sandbox init (pid 1 of its namespace).

    When ``run`` returns, the program and everything it started are dead; only the init,
    which reported and is exiting, may still wait for the backend's teardown to reap it.
    """
    stray = []
    for line in sandbox_processes(uids):
        pid = line.split()[1]
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        nspid = next((ln.split()[1:] for ln in status.splitlines()
                      if ln.startswith("NSpid:")), [])
        if nspid[-1:] != ["1"]:
            stray.append(f"{line} nspid {nspid}")
    return stray


def wait_for_teardown(host: Host, timeout: float = 5.0) -> float:
    """Wait until the backend's asynchronous teardown (init reaped, cgroup emptied) is done;
    the seconds it took. The caller then asserts the host is clean."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not sandbox_processes(host.uids) and not leftover_cgroups(host.cgroup_parent):
            break
        time.sleep(0.002)
    return time.monotonic() - start


def leftover_cgroups(parent: str, busy_only: bool = True) -> list[str]:
    """``box-*`` groups under the suite's parent that hold a process (with ``busy_only``:
    a backend keeps its emptied groups for its next sandboxes, see leases.py), or all."""
    return sorted(str(p / c) for p in execbox_cgroup_parents(parent) for c in os.listdir(p)
                  if c.startswith("box-") and (p / c).is_dir()
                  and (not busy_only or _holds_processes(p / c)))


def _holds_processes(group: Path) -> bool:
    try:
        return bool((group / "cgroup.procs").read_text().strip())
    except FileNotFoundError:  # removed meanwhile
        return False


def _file_state(path: Path) -> tuple[Any, ...]:
    st = path.lstat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
    return (digest, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
            st.st_ino, st.st_nlink)


@dataclass(frozen=True)
class HostState:
    sandbox_processes: list[str]
    cgroups: list[str]
    mountinfo: str
    files: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    secret_dir: list[str] = field(default_factory=list)
    hostname: str = ""


def host_state(host: Host) -> HostState:
    return HostState(
        sandbox_processes=sandbox_processes(host.uids),
        cgroups=leftover_cgroups(host.cgroup_parent),
        mountinfo=Path("/proc/self/mountinfo").read_text(),
        files={str(p): _file_state(p) for p in host.watched},
        secret_dir=sorted(os.listdir(host.secret_dir)),
        hostname=socket.gethostname(),
    )


def assert_host_unchanged(before: HostState, after: HostState, host: Host) -> None:
    assert after.sandbox_processes == [], "processes with a sandbox uid are left on the host"
    assert after.cgroups == [], "sandbox cgroups under the execbox parent still hold processes"
    assert after.mountinfo == before.mountinfo, "the host's mount table changed"
    assert after.files == before.files, "a sentinel file on the host changed"
    assert after.secret_dir == before.secret_dir, "the host's secret directory changed"
    assert after.hostname == before.hostname, "the host's hostname changed"
    assert host.listeners_untouched() == [], "something reached a host socket"
    assert host.canary.poll() is None, "the host's canary process was killed"


# --- compiling and running ---------------------------------------------------------------

_compiled: dict[str, bytes] = {}


def compile_c(backend: NamespaceBackend, source: bytes) -> bytes:
    """The binary of ``source``, compiled inside a sandbox, cached per source."""
    key = hashlib.sha256(source).hexdigest()
    if key not in _compiled:
        result = backend.run(SandboxSpec(argv=COMPILE_ARGV,
                                         files=(SandboxFile("main.c", source),),
                                         collect=("main",), limits=COMPILE_LIMITS))
        if result.status is not Status.OK or "main" not in result.files:
            pytest.fail(f"gcc failed in the sandbox: {result.summary()}\n"
                        f"{result.stderr.decode(errors='replace')}")
        _compiled[key] = result.files["main"]
    return _compiled[key]


def program_files(backend: NamespaceBackend, attack_dir: Path,
                  lang: str) -> tuple[SandboxFile, ...]:
    filename, _ = LANGUAGES[lang]
    source = (attack_dir / filename).read_bytes()
    if lang == "c":
        return (SandboxFile("main", compile_c(backend, source), executable=True),)
    return (SandboxFile(filename, source),)


def describe(result: StageResult) -> str:
    def cut(data: bytes) -> str:
        text = data.decode(errors="replace")
        return text if len(text) < 3000 else text[:1500] + "\n[...]\n" + text[-1500:]

    return (f"{result.summary()} limits_hit={[k.value for k in result.limits_hit]} "
            f"message={result.message!r} files={sorted(result.files)}\n"
            f"--- stdout ---\n{cut(result.stdout)}\n--- stderr ---\n{cut(result.stderr)}")


def check_result(result: StageResult, expect: Expect, host: Host, elapsed: float) -> None:
    info = describe(result)
    escaped = [line for line in result.stdout.decode(errors="replace").splitlines()
               if "ESCAPED" in line]
    escaped += [line for line in result.stderr.decode(errors="replace").splitlines()
                if line.startswith("ESCAPED")]
    assert escaped == [], f"the attack got out: {escaped}\n{info}"
    for blob_name, blob in [("stdout", result.stdout), ("stderr", result.stderr),
                            *((f"file {n}", b) for n, b in result.files.items())]:
        for secret in host.secrets_to_hide:
            assert secret not in blob, f"a host secret appeared in {blob_name}\n{info}"
    assert result.status in expect.status, f"status {result.status}, expected " \
                                           f"{[s.value for s in expect.status]}\n{info}"
    if expect.limit is not None:
        assert result.limit in expect.limit, f"limit {result.limit}\n{info}"
    if expect.signal is not None:
        assert result.signal in expect.signal, f"signal {result.signal}\n{info}"
    if expect.exit_code is not None:
        assert result.exit_code == expect.exit_code, info
    if expect.expect_contained:
        assert b"CONTAINED" in result.stdout, f"the probe did not run to the end\n{info}"
    for name in expect.files_absent:
        assert name not in result.files, f"collected {name!r} through a planted link\n{info}"
    if expect.stdout_truncated is not None:
        assert result.stdout_truncated is expect.stdout_truncated, info
    for kind in expect.limits_hit:
        assert kind in result.limits_hit, f"{kind} not among the limits hit\n{info}"
    assert len(result.stdout) <= expect.limits.output_bytes, info
    assert len(result.stderr) <= expect.limits.output_bytes, info
    if expect.max_seconds is not None:
        assert elapsed <= expect.max_seconds, f"took {elapsed:.2f}s\n{info}"


# --- the tests -------------------------------------------------------------------------

@pytest.mark.parametrize(("attack", "lang"), CASES, ids=[f"{a}:{lang}" for a, lang in CASES])
def test_attack(attack: str, lang: str, backend: NamespaceBackend, host: Host) -> None:
    attack_dir = ATTACKS_DIR / attack
    expect = load_expect(attack_dir, lang)
    files = program_files(backend, attack_dir, lang)
    wait_for_teardown(host)  # of the compilation or an earlier test
    before = host_state(host)
    assert before.sandbox_processes == [] and before.cgroups == [], \
        f"the host was not clean before the attack: {before}"
    spec = SandboxSpec(argv=LANGUAGES[lang][1], files=files, stdin=expect.stdin,
                       env=host.env, limits=expect.limits, collect=expect.collect)
    start = time.monotonic()
    if lang == "py-template":
        result = backend.execute(backend.build(caps=expect.limits, inprocess=TEMPLATE), spec)
    else:
        result = backend.run(spec)
    elapsed = time.monotonic() - start
    print(f"{attack}:{lang} in {elapsed:.2f}s: {describe(result)}")  # shown with -s or on failure
    assert stray_processes(host.uids) == [], \
        f"sandbox processes outlived the run's result\n{describe(result)}"
    wait_for_teardown(host)
    after = host_state(host)
    assert_host_unchanged(before, after, host)
    check_result(result, expect, host, elapsed)


def test_every_attack_is_well_formed() -> None:
    dirs = sorted(p for p in ATTACKS_DIR.iterdir() if p.is_dir())
    assert dirs, "no attacks found"
    for d in dirs:
        langs = [lang for lang, (f, _) in LANGUAGES.items() if (d / f).exists()]
        assert langs, f"{d.name}: no main.py, main.c or main.sh"
        for lang in langs:
            expect = load_expect(d, lang)
            assert expect.description.strip(), d.name
        extra = {p.name for p in d.iterdir()} - {"expect.toml", *(f for f, _ in
                                                                   LANGUAGES.values())}
        assert not extra, f"{d.name}: unexpected files {sorted(extra)}"


def test_host_checks_see_a_live_sandbox(backend: NamespaceBackend, host: Host) -> None:
    """The leftover checks are not vacuous: they see a sandbox's process and cgroup."""
    assert execbox_cgroup_parents(host.cgroup_parent), "no cgroup parent found: vacuous check"
    seen: dict[str, list[str]] = {"procs": [], "cgroups": []}
    spec = SandboxSpec(argv=("/bin/sleep", "1"), env=host.env,
                       limits=DEFAULT_LIMITS.merged({"wall_time_ms": 5000}))
    results: list[StageResult] = []
    runner = threading.Thread(target=lambda: results.append(backend.run(spec)))
    runner.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not (seen["procs"] and seen["cgroups"]):
        seen["procs"] = seen["procs"] or sandbox_processes(host.uids)
        seen["cgroups"] = seen["cgroups"] or leftover_cgroups(host.cgroup_parent)
        time.sleep(0.01)
    runner.join()
    wait_for_teardown(host)
    assert results and results[0].status is Status.OK, results
    assert seen["procs"], "the process scan did not see the running sandbox"
    assert seen["cgroups"], "the cgroup scan did not see the running sandbox's group"
    assert sandbox_processes(host.uids) == [] and leftover_cgroups(host.cgroup_parent) == []


def _memory_holding(pid: int, needles: tuple[bytes, ...]) -> list[str]:
    """Which ``needles`` are in the readable memory of ``pid`` (read as root)."""
    found = []
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            addresses, perms = line.split()[:2]
            start, end = (int(a, 16) for a in addresses.split("-"))
            if "r" not in perms or end - start > 512 << 20 or line.endswith("[vvar]"):
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            found += [f"{n[:12]!r}... at {line}" for n in needles if n in data]
    return found


def test_no_host_secret_in_the_memory_of_sandbox_processes(backend: NamespaceBackend,
                                                           host: Host) -> None:
    """DESIGN: no secret in the memory of any process user code is forked from. The
    harness's secrets live in this process; the sandbox's init and program must not carry
    a copy (as they would if the init were forked from here)."""
    needles = (host.secret.encode(), host.file_secret.encode())
    assert _memory_holding(os.getpid(), needles), "control: the scan finds nothing here"
    spec = SandboxSpec(argv=("/bin/sleep", "1"), env=host.env,
                       limits=DEFAULT_LIMITS.merged({"wall_time_ms": 5000}))
    results: list[StageResult] = []
    runner = threading.Thread(target=lambda: results.append(backend.run(spec)))
    runner.start()
    scanned: dict[str, list[str]] = {}
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(scanned) < 2:
            for line in sandbox_processes(host.uids):
                pid = line.split()[1]
                if pid in scanned or " Z (zombie)" in line:
                    continue
                try:
                    scanned[pid] = [line, *_memory_holding(int(pid), needles)]
                except (FileNotFoundError, ProcessLookupError):
                    continue
            time.sleep(0.01)
    finally:
        runner.join()
        wait_for_teardown(host)
    assert results and results[0].status is Status.OK, results
    assert len(scanned) >= 2, f"did not see the init and the program: {list(scanned)}"
    leaked = {pid: hits for pid, hits in scanned.items() if hits[1:]}
    assert leaked == {}, "a sandbox process holds the host's secrets in its memory"
