import pytest

from execbox.errors import ConfigError
from execbox.sandbox.spec import BindMount, SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Limits


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\x00"])
def test_file_names_must_stay_in_the_work_dir(name):
    with pytest.raises(ConfigError):
        SandboxFile(name, b"")


def test_nested_relative_file_names_are_fine():
    assert SandboxFile("src/pkg/main.py", b"x").name == "src/pkg/main.py"


def test_argv_and_env_are_validated():
    with pytest.raises(ConfigError):
        SandboxSpec(argv=())
    with pytest.raises(ConfigError):
        SandboxSpec(argv=("a\x00b",))
    with pytest.raises(ConfigError):
        SandboxSpec(argv=("/bin/true",), env={"BAD-NAME": "x"})
    with pytest.raises(ConfigError):
        SandboxSpec(argv=("/bin/true",), limits=Limits(memory_mb=0))


def test_bind_mounts_need_absolute_normal_paths():
    with pytest.raises(ConfigError):
        BindMount("usr", "/usr")
    with pytest.raises(ConfigError):
        BindMount("/usr/../etc", "/usr")


def test_settings_refuse_root_uids():
    with pytest.raises(ConfigError):
        SandboxSettings(uid_base=0)


def test_limits_merge_and_caps():
    merged = Limits().merged({"memory_mb": 64, "cpu_time_ms": None})
    assert merged.memory_mb == 64 and merged.cpu_time_ms == Limits().cpu_time_ms
    with pytest.raises(ValueError, match="unknown limit"):
        Limits().merged({"disk": 1})
    assert Limits(memory_mb=512).exceeding(Limits()) == ["memory_mb"]
