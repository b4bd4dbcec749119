"""Namespaces: pid, mount, network, ipc, uts and cgroup — fresh ones for every sandbox.

Parent side: ``PidNamespaceForker.fork`` forks a child that is pid 1 of a new pid
namespace. The parent unshares CLONE_NEWPID (which changes only the namespace its *next*
child is born in, and only for the calling thread), forks, and returns its own
"pid namespace for children" to its real one with setns. One fork, no intermediate process.
The sandbox's init (pid 1) therefore sees no host process, and when it dies the kernel
kills every process left in the namespace.

Child side: ``unshare_rest`` detaches the other namespaces. A fresh network namespace holds
only a loopback interface that is down: no route anywhere, not even to the host's
127.0.0.1 or abstract unix sockets. A user namespace is not used: the sandbox runs as an
unprivileged uid of the host with an empty capability set, which is the stronger position
(a user namespace would hand it a full set of capabilities over its own namespaces).
"""

from __future__ import annotations

import os

from execbox.sandbox import libc

SANDBOX_NAMESPACES = (
    libc.CLONE_NEWNS | libc.CLONE_NEWNET | libc.CLONE_NEWIPC | libc.CLONE_NEWUTS
    | libc.CLONE_NEWCGROUP
)

NAMESPACE_NAMES = {
    "pid": libc.CLONE_NEWPID,
    "mnt": libc.CLONE_NEWNS,
    "net": libc.CLONE_NEWNET,
    "ipc": libc.CLONE_NEWIPC,
    "uts": libc.CLONE_NEWUTS,
    "cgroup": libc.CLONE_NEWCGROUP,
}


class PidNamespaceForker:
    """Forks children straight into fresh pid namespaces (parent side)."""

    def __init__(self) -> None:
        self._own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def fork(self) -> int:
        """Like os.fork(); the child is pid 1 of a new pid namespace."""
        libc.unshare(libc.CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            libc.setns(self._own, libc.CLONE_NEWPID)
            raise
        if pid:  # the parent goes back to forking into its own namespace
            libc.setns(self._own, libc.CLONE_NEWPID)
        return pid

    def close(self) -> None:
        os.close(self._own)


def unshare_rest(flags: int = SANDBOX_NAMESPACES) -> None:
    """Child side: leave the host's mount, network, ipc, uts and cgroup namespaces."""
    libc.unshare(flags)
