"""The seccomp policy and its compiled BPF, checked without root and without loading it.

Decisions are checked by running the exported classic-BPF program in a small interpreter
on hand-made ``seccomp_data`` (arch, nr, args), so every rule, argument rule and the
architecture checks are covered here; tests/integration/test_seccomp_enforced.py shows
the kernel agrees.
"""

from __future__ import annotations

import errno
import random
import struct

import pyseccomp
import pytest

from execbox.sandbox import seccomp
from execbox.sandbox.seccomp import Action, SeccompPolicy, compile_bpf, default_policy
from execbox.sandbox.seccomp_table import DEFAULT_RULES

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_BIT = 0x40000000

ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000
EPERM = 0x00050000 | errno.EPERM
ENOSYS = 0x00050000 | errno.ENOSYS
RET_OF = {Action.KILL: KILL_PROCESS, Action.EPERM: EPERM, Action.ENOSYS: ENOSYS}

CLONE_NEW = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
TIOCSTI, TIOCLINUX, TCGETS, TIOCGWINSZ = 0x5412, 0x541C, 0x5401, 0x5413


def nr(name: str) -> int:
    return seccomp.syscall_number(name)


def run_bpf(program: bytes, nr: int, args: tuple[int, ...] = (),
            arch: int = AUDIT_ARCH_X86_64) -> int:
    """Evaluate a seccomp classic-BPF program; returns the SECCOMP_RET_* value."""
    full = (*args, 0, 0, 0, 0, 0, 0)[:6]
    data = struct.pack("<iIQ6Q", nr, arch, 0x401000, *(a & (2**64 - 1) for a in full))
    insns: list[tuple[int, int, int, int]] = [
        struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = int.from_bytes(data[k:k + 4], "little")
        elif code == 0x00:  # ld #k
            acc = k
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset #k
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"opcode {code:#x} not handled by this interpreter")


@pytest.fixture(scope="module")
def bpf() -> bytes:
    return compile_bpf(default_policy())


# --- the table ----------------------------------------------------------------------

def test_default_policy_is_the_table() -> None:
    policy = default_policy()
    assert dict(policy.rules) == {n: Action(a) for n, (a, _) in DEFAULT_RULES.items()}
    assert policy.deny_namespace_clone is Action.EPERM
    assert policy.deny_tiocsti is Action.EPERM


def test_every_table_entry_is_a_real_syscall_with_an_action_and_a_reason() -> None:
    for name, (action, reason) in DEFAULT_RULES.items():
        assert nr(name) >= 0
        assert Action(action) in Action
        assert len(reason) > 20, name


@pytest.mark.parametrize(("action", "names"), [
    (Action.KILL, ["ptrace", "process_vm_readv", "process_vm_writev", "kexec_load",
                   "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
                   "userfaultfd", "iopl", "ioperm", "reboot", "swapon", "swapoff", "acct",
                   "quotactl", "lookup_dcookie", "open_by_handle_at", "settimeofday",
                   "clock_settime", "nfsservctl", "vhangup", "pidfd_getfd", "fanotify_init"]),
    (Action.EPERM, ["mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
                    "personality", "sethostname", "setdomainname", "perf_event_open",
                    "keyctl", "add_key", "request_key", "syslog", "kcmp", "adjtimex"]),
    (Action.ENOSYS, ["io_uring_setup", "io_uring_enter", "io_uring_register", "clone3",
                     "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
                     "mount_setattr"]),
])
def test_table_actions(action: Action, names: list[str]) -> None:
    rules = default_policy().rules
    assert {n: rules.get(n) for n in names} == dict.fromkeys(names, action)


EVERYDAY = ["read", "write", "openat", "close", "mmap", "mprotect", "munmap", "brk", "fork",
            "vfork", "clone", "execve", "execveat", "wait4", "exit_group", "futex",
            "rt_sigaction", "rt_sigprocmask", "kill", "tgkill", "socket", "socketpair",
            "connect", "ioctl", "prctl", "seccomp", "prlimit64", "set_robust_list", "rseq",
            "getrandom", "clock_gettime", "epoll_create1", "pipe2", "madvise", "sched_yield"]


def test_everyday_syscalls_are_not_listed() -> None:
    assert not set(EVERYDAY) & set(default_policy().rules)


# --- policy objects -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["no_such_syscall", "", "PTRACE", "socketcall"])
def test_unknown_syscall_names_are_rejected(name: str) -> None:
    # socketcall exists on i386 only: a rule for it would silently do nothing here
    with pytest.raises(ValueError, match="unknown syscall"):
        SeccompPolicy(rules={name: Action.EPERM})
    with pytest.raises(ValueError, match="unknown syscall"):
        default_policy().with_overrides({name: Action.KILL})


def test_actions_must_be_actions() -> None:
    with pytest.raises(TypeError):
        SeccompPolicy(rules={"ptrace": "kill"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        SeccompPolicy(rules={}, deny_tiocsti="eperm")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SeccompPolicy(rules={101: Action.KILL})  # type: ignore[dict-item]


def test_policy_is_immutable_hashable_and_copies_its_rules() -> None:
    rules = {"ptrace": Action.KILL}
    policy = SeccompPolicy(rules=rules)
    rules["mount"] = Action.EPERM  # the caller's dict changes later
    assert dict(policy.rules) == {"ptrace": Action.KILL}
    with pytest.raises(TypeError):
        policy.rules["mount"] = Action.EPERM  # type: ignore[index]
    twin = SeccompPolicy(rules={"ptrace": Action.KILL})
    assert policy == twin and hash(policy) == hash(twin)
    assert policy != SeccompPolicy(rules={"ptrace": Action.EPERM})
    assert policy != SeccompPolicy(rules={"ptrace": Action.KILL}, deny_tiocsti=Action.KILL)


def test_with_overrides_returns_a_new_policy() -> None:
    base = default_policy()
    changed = base.with_overrides({"ptrace": Action.EPERM, "getppid": Action.ENOSYS})
    assert base.rules["ptrace"] is Action.KILL and "getppid" not in base.rules
    assert changed.rules["ptrace"] is Action.EPERM and changed.rules["getppid"] is Action.ENOSYS
    assert len(changed.rules) == len(base.rules) + 1
    assert changed.deny_tiocsti is base.deny_tiocsti
    assert run_bpf(compile_bpf(changed), nr("getppid")) == ENOSYS
    assert run_bpf(compile_bpf(changed), nr("ptrace")) == EPERM


def test_constants() -> None:
    assert seccomp.SIGSYS_MEANS_BLOCKED == "SIGSYS"
    assert {a.value for a in Action} == {"eperm", "enosys", "kill"}


# --- the compiled program -----------------------------------------------------------

def test_bpf_is_whole_instructions_and_fits_the_kernel_limit(bpf: bytes) -> None:
    assert isinstance(bpf, bytes) and bpf
    assert len(bpf) % 8 == 0
    assert len(bpf) // 8 < 4096  # BPF_MAXINSNS
    assert struct.unpack_from("<HBBI", bpf, 0) == (0x20, 0, 0, 4)  # first: load the arch


def test_compile_is_cached_per_policy() -> None:
    policy = SeccompPolicy(rules={"ptrace": Action.KILL, "mount": Action.EPERM})
    first = compile_bpf(policy)
    hits = compile_bpf.cache_info().hits
    assert compile_bpf(SeccompPolicy(rules={"mount": Action.EPERM, "ptrace": Action.KILL})) \
        is first
    assert compile_bpf.cache_info().hits == hits + 1
    assert compile_bpf(policy.with_overrides({"ptrace": Action.EPERM})) != first


def test_bpf_is_deterministic() -> None:
    compile_bpf.cache_clear()
    first = compile_bpf(default_policy())
    compile_bpf.cache_clear()
    assert compile_bpf(default_policy()) == first


def test_every_syscall_gets_its_table_action_and_the_rest_are_allowed(bpf: bytes) -> None:
    expected = {nr(name): RET_OF[act] for name, act in default_policy().rules.items()}
    expected[nr("personality")] = ALLOW  # personality(0) is PER_LINUX: allowed
    for number in range(0, 470):
        assert run_bpf(bpf, number) == expected.get(number, ALLOW), number


@pytest.mark.parametrize(("number", "arch"), [
    (X32_BIT | 101, AUDIT_ARCH_X86_64),  # x32 ptrace
    (X32_BIT | 0, AUDIT_ARCH_X86_64),  # x32 read: the whole x32 ABI is refused
    (X32_BIT | 39, AUDIT_ARCH_X86_64),  # x32 getpid
    (X32_BIT | 135, AUDIT_ARCH_X86_64),  # x32 personality passes the personality prefix
    (20, AUDIT_ARCH_I386),  # i386 getpid through int 0x80
    (26, AUDIT_ARCH_I386),  # i386 ptrace
    (136, AUDIT_ARCH_I386),  # i386 personality
    (135, AUDIT_ARCH_I386),  # i386 call with x86_64's personality number
    (172, AUDIT_ARCH_AARCH64),
])
def test_other_abis_are_killed(bpf: bytes, number: int, arch: int) -> None:
    assert run_bpf(bpf, number, arch=arch) == KILL_PROCESS


def test_libseccomp_default_bad_arch_action_is_kill_thread_so_we_override_it() -> None:
    # documents why compile_bpf sets ACT_BADARCH: KILL_THREAD would leave other threads
    assert pyseccomp.SyscallFilter(pyseccomp.ALLOW).get_attr(pyseccomp.Attr.ACT_BADARCH) == 0


PTHREAD_FLAGS = 0x003D0F00  # CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT/CHILD tid
FORK_FLAGS = 0x01200011  # CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD (glibc fork)
VFORK_FLAGS = 0x00004111  # CLONE_VM|CLONE_VFORK|SIGCHLD (posix_spawn)


@pytest.mark.parametrize(("flags", "expected"), [
    (17, ALLOW), (PTHREAD_FLAGS, ALLOW), (FORK_FLAGS, ALLOW), (VFORK_FLAGS, ALLOW),
    *[(flag | 17, EPERM) for flag in CLONE_NEW.values()],
    (CLONE_NEW["CLONE_NEWUSER"] | CLONE_NEW["CLONE_NEWNS"] | FORK_FLAGS, EPERM),
    ((1 << 40) | CLONE_NEW["CLONE_NEWNS"] | 17, EPERM),  # junk upper bits change nothing
    ((1 << 40) | 17, ALLOW),
])
def test_clone_namespace_flags(bpf: bytes, flags: int, expected: int) -> None:
    assert run_bpf(bpf, nr("clone"), (flags, 0, 0, 0, 0)) == expected


@pytest.mark.parametrize(("request_", "expected"), [
    (TIOCSTI, EPERM), (TIOCLINUX, EPERM),
    ((1 << 32) | TIOCSTI, EPERM),  # the kernel uses the low 32 bits only
    ((0xFFFF << 48) | TIOCLINUX, EPERM),
    (TCGETS, ALLOW), (TIOCGWINSZ, ALLOW), (0x5412 << 8, ALLOW),
])
def test_ioctl_tiocsti(bpf: bytes, request_: int, expected: int) -> None:
    assert run_bpf(bpf, nr("ioctl"), (0, request_, 0)) == expected


@pytest.mark.parametrize(("persona", "expected"), [
    (0xFFFFFFFF, ALLOW), (0, ALLOW), ((1 << 32) | 0xFFFFFFFF, ALLOW), (1 << 40, ALLOW),
    (0x0040000, EPERM),  # ADDR_NO_RANDOMIZE
    (0x0400000, EPERM),  # READ_IMPLIES_EXEC
    (0x0008, EPERM),  # PER_LINUX32
    ((1 << 32) | 0x0040000, EPERM), (1, EPERM), (0x80000000, EPERM), (0xFFFFFFFE, EPERM),
    (0x7FFFFFFF, EPERM),
])
def test_personality(bpf: bytes, persona: int, expected: int) -> None:
    assert run_bpf(bpf, nr("personality"), (persona,)) == expected


def test_personality_denies_exactly_what_is_not_query_or_default(bpf: bytes) -> None:
    rng = random.Random(1)
    samples = [rng.getrandbits(32) for _ in range(3000)]
    samples += [1 << i for i in range(32)] + [0xFFFFFFFF ^ (1 << i) for i in range(32)]
    samples += [0, 0xFFFFFFFF]
    for persona in samples:
        expected = ALLOW if persona in (0, 0xFFFFFFFF) else EPERM
        assert run_bpf(bpf, nr("personality"), (persona,)) == expected, hex(persona)


def test_personality_prefix_only_when_the_policy_names_personality() -> None:
    with_rule = compile_bpf(SeccompPolicy(rules={"personality": Action.EPERM}))
    without = compile_bpf(SeccompPolicy(rules={}))
    assert len(with_rule) == len(without) + 8 * 8 and with_rule.endswith(without)
    assert run_bpf(without, nr("personality"), (0x0040000,)) == ALLOW


def test_argument_rule_actions_follow_the_policy() -> None:
    policy = SeccompPolicy(rules={}, deny_namespace_clone=Action.KILL,
                           deny_tiocsti=Action.ENOSYS)
    program = compile_bpf(policy)
    assert run_bpf(program, nr("clone"), (CLONE_NEW["CLONE_NEWUSER"] | 17,)) == KILL_PROCESS
    assert run_bpf(program, nr("ioctl"), (0, TIOCSTI)) == ENOSYS
    # structural parts stay even with no rules: clone3 ENOSYS, bad arch killed
    assert run_bpf(program, nr("clone3")) == ENOSYS
    assert run_bpf(program, X32_BIT | 101) == KILL_PROCESS
    assert run_bpf(program, nr("ptrace")) == ALLOW
    assert run_bpf(program, nr("personality"), (0x0040000,)) == ALLOW


def test_unconditional_rules_replace_argument_rules() -> None:
    policy = SeccompPolicy(rules={"clone": Action.KILL, "ioctl": Action.EPERM,
                                  "clone3": Action.EPERM, "personality": Action.KILL})
    program = compile_bpf(policy)
    assert run_bpf(program, nr("clone"), (17,)) == KILL_PROCESS
    assert run_bpf(program, nr("ioctl"), (0, TCGETS)) == EPERM
    assert run_bpf(program, nr("clone3")) == EPERM
    assert run_bpf(program, nr("personality"), (0x0040000,)) == KILL_PROCESS
    assert run_bpf(program, nr("personality"), (0xFFFFFFFF,)) == ALLOW
