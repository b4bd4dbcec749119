"""execbox's C init (sandbox/native/execbox_init.c) and its plan format (native_init.py):
built from source on first use, and it reports a bad plan or a failed step as an ERROR
frame on the status pipe, never silently. (The whole sandbox it builds is tested as root
by the integration and attack suites.)"""

from __future__ import annotations

import os
import struct
import subprocess

import pytest

from execbox.sandbox import mounts, native_init, protocol, rlimits, template
from execbox.sandbox.child import RunOrder
from execbox.sandbox.spec import SandboxFile


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    return native_init.binary(str(tmp_path_factory.mktemp("bin")))


def _root(pty: bool = False) -> mounts.RootPlan:
    return mounts.RootPlan("/run/x/root", (mounts.Bind("/usr", "/usr", True, False),),
                           (("/bin", "usr/bin"),), ("/usr/local",), 900001, 900001,
                           8 << 20, 8 << 20, 1000, pty)


def _frames_of(binary: str, plan: bytes, net: int = -1) -> tuple[int, protocol.FrameReader]:
    """Run the init on ``plan`` (fd 4) with a status pipe (fd 3) (and with ``net`` >= 0,
    that network namespace to join on fd 6); its exit status and what it said."""
    status_r, status_w = os.pipe()
    plan_fd = os.memfd_create("plan")
    os.write(plan_fd, plan)
    os.lseek(plan_fd, 0, os.SEEK_SET)
    code = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "net = int(sys.argv[4]); net >= 0 and os.dup2(net, 6); "
            "os.execv(sys.argv[3], [sys.argv[3], *(['--join-net'] if net >= 0 else [])])")
    fds = (status_w, plan_fd, *((net,) if net >= 0 else ()))
    proc = subprocess.Popen(["python3", "-c", code, str(status_w), str(plan_fd), binary,
                             str(net)], pass_fds=fds)
    os.close(status_w)
    os.close(plan_fd)
    reader = protocol.FrameReader()
    while chunk := os.read(status_r, 65536):
        reader.feed(chunk)
    os.close(status_r)
    return proc.wait(), reader


def test_the_binary_is_built_once_per_source(binary: str) -> None:
    assert os.access(binary, os.X_OK)
    again = native_init.binary(os.path.dirname(binary))
    assert again == binary
    assert binary.rsplit("-", 1)[1] in native_init.library(os.path.dirname(binary))


@pytest.mark.parametrize(("plan", "message"), [
    (b"C\xff\xff\x00\x00", "a truncated plan"),
    (b"?\x00\x00\x00\x00", "an unknown plan record"),
    (b"U\x02\x00\x00\x00ab", "a number record"),
    (b"", "an incomplete plan"),
])
def test_a_bad_plan_is_an_error_frame(binary: str, plan: bytes, message: str) -> None:
    status, frames = _frames_of(binary, plan)
    error = frames.first(protocol.ERROR)
    assert status == 125
    assert error is not None and error["stage"] == "start"
    assert error["message"].startswith(message)


def test_a_failed_step_names_its_stage(binary: str) -> None:
    plan = native_init.encode(("/nonexistent/execbox/tasks",), "execbox", _root(), (), 40,
                              b"\0" * 8, idle=False)
    status, frames = _frames_of(binary, plan)
    error = frames.first(protocol.ERROR)
    assert status == 125
    assert error is not None and error["stage"] == "cgroup"
    assert "/nonexistent/execbox/tasks" in error["message"]
    assert error["errno"] == 2


def test_encode_records() -> None:
    limits = (rlimits.Rlimit(7, 64, -1),)
    plan = native_init.encode(("/a/tasks",), "host", _root(), limits, 40, b"\1" * 16,
                              idle=True)
    records = []
    at = 0
    while at < len(plan):
        tag, size = plan[at:at + 1], struct.unpack("<I", plan[at + 1:at + 5])[0]
        records.append((tag, plan[at + 5:at + 5 + size]))
        at += 5 + size
    assert at == len(plan)
    tags = [t for t, _ in records]
    assert tags[:3] == [b"C", b"H", b"P"] and tags[-1] == b"D" and b"S" in tags
    assert (b"B", b"\x01/usr\0/usr") in records
    assert (b"L", b"/bin\0usr/bin") in records
    assert (b"R", struct.pack("<IQQ", 7, 64, 2**64 - 1)) in records  # infinity: all ones
    with pytest.raises(Exception, match="terminal"):
        native_init.encode((), "h", _root(pty=True), (), 40, b"", idle=False)


def test_template_orders_are_plain() -> None:
    order = RunOrder(argv=("python3", "m.py"), env={"A": "1"},
                     files=(SandboxFile("m.py", b"x"),), rlimits=(rlimits.Rlimit(1, 2, 3),),
                     collect=(), collect_max_bytes=0, stdin=b"in")
    import marshal

    assert marshal.loads(template.encode_order(order)) == (
        ("python3", "m.py"), {"A": "1"}, (("m.py", b"x", False),), ((1, 2, 3),), b"in")
    for bad in ({"collect": ("out",)}, {"interactive": True}, {"pty": (24, 80)}):
        from dataclasses import replace

        with pytest.raises(ValueError, match="plain orders"):
            template.encode_order(replace(order, **bad))  # type: ignore[arg-type]


def test_json_strings_of_the_template() -> None:
    import json

    for text in ['plain', 'quote " and \\ back', "é\n\t\x00", "😀"]:
        assert isinstance(json.loads(template._json_str(text)), str)
    assert json.loads(template._json_str('a"b\\c\n')) == 'a"b\\c\n'


@pytest.mark.skipif(os.geteuid() != 0, reason="the init runs as root")
def test_a_recycled_network_namespace_is_never_the_hosts(binary: str, tmp_path) -> None:
    """Template sandboxes join a network namespace from a pool (template._Nets): should the
    descriptor handed over ever be the host's own namespace, the init refuses to build."""
    tasks = tmp_path / "tasks"  # stands in for a cgroup's tasks file
    tasks.write_text("")
    plan = native_init.encode((str(tasks),), "execbox", _root(), (), 40, b"\0" * 8,
                              idle=False)
    host_net = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        status, frames = _frames_of(binary, plan, net=host_net)
    finally:
        os.close(host_net)
    error = frames.first(protocol.ERROR)
    assert status == 125
    assert error is not None and error["stage"] == "namespaces"
    assert "the network namespace given is the host's" in error["message"]


def test_the_forker_answers_a_malformed_request_with_an_error(binary: str) -> None:
    """--forker (one per template spawner) forks inits on request; a request without the
    descriptors an init needs gets -EINVAL, and the forker serves on until its socket
    closes."""
    import errno
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.posix_spawn(binary, [binary, "--forker"], {},  # as template._Forker does
                         file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
    theirs.close()
    try:
        r, w = os.pipe()
        for _ in range(2):
            socket.send_fds(ours, [b"\0"], [r, w])  # two descriptors, not three
            assert struct.unpack("=i", ours.recv(4))[0] == -errno.EINVAL
        os.close(r)
        os.close(w)
    finally:
        ours.close()
    assert os.waitpid(pid, 0)[1] == 0  # its socket closed: it left
