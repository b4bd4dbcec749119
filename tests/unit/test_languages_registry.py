"""The language registry without root: data files, schema errors, name and version
resolution, missing toolchains and dpkg version parsing."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import execbox.languages as languages_pkg
from execbox.errors import ConfigError
from execbox.languages import registry as registry_mod
from execbox.languages.language import Language, load_file, parse, parse_text
from execbox.languages.registry import (
    DATA_DIR,
    LanguageUnavailable,
    Registry,
    UnknownLanguage,
    parse_dpkg_output,
    upstream_version,
    version_matches,
)
from execbox.sandbox.spec import BindMount
from execbox.types import Limits

ROOT = Path(__file__).resolve().parents[2]

BASE: dict[str, Any] = {
    "name": "toy",
    "display": "Toy",
    "aliases": ["toylang"],
    "extensions": ["toy"],
    "source": "main.toy",
    "version_package": "toy-compiler",
    "packages": ["toy-compiler"],
    "compile": ["/usr/bin/toyc", "-o", "main", "{source}"],
    "artifacts": ["main"],
    "run": ["./main"],
    "selftest": {"code": "print(read() + read())", "stdin": "2 3\n", "expected": "5\n"},
}

TOY_FILE = """
name = "{name}"
aliases = {aliases}
extensions = {extensions}
source = "main.toy"
version_package = "{package}"
packages = ["{package}"]
run = ["{run}", "{{source}}"]

[selftest]
code = "x"
expected = "5\\n"
"""


def toy(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def write_toy(directory: Path, name: str, *, aliases: str = "[]", extensions: str = "[]",
              run: str = "/bin/sh", package: str = "toy") -> Path:
    path = directory / f"{name}.toml"
    path.write_text(TOY_FILE.format(name=name, aliases=aliases, extensions=extensions,
                                    run=run, package=package))
    return path


# --- the shipped data files ---------------------------------------------------------------

DATA_FILES = sorted(Path(DATA_DIR).glob("*.toml"))


def test_there_are_many_languages() -> None:
    names = {p.stem for p in DATA_FILES}
    assert len(names) >= 30
    required = {"python", "c", "cpp", "java", "javascript", "typescript", "bash", "rust", "go",
                "ruby", "perl", "php", "lua", "csharp", "haskell", "pascal", "fortran",
                "ocaml", "kotlin", "scala", "sql", "assembly", "r", "commonlisp", "prolog",
                "elixir", "erlang", "d"}
    assert required <= names


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.stem)
def test_every_data_file_parses_and_has_a_selftest(path: Path) -> None:
    lang = load_file(str(path))
    assert lang.name == path.stem
    assert lang.selftest.code.strip()
    assert lang.selftest.expected
    assert lang.packages and lang.version_package
    assert lang.source.rsplit(".", 1)[-1].lower() in lang.extensions or not lang.extensions
    for argv in (lang.run, lang.compile or ("/x",)):
        assert os.path.isabs(argv[0]) or argv[0].startswith("./")
    if lang.zygote:
        assert not lang.compiled


def test_names_aliases_and_extensions_are_unique_across_files() -> None:
    seen: dict[str, str] = {}
    extensions: dict[str, str] = {}
    for path in DATA_FILES:
        lang = load_file(str(path))
        for key in (lang.name, *lang.aliases):
            assert key not in seen, f"{key} in {path.name} and {seen[key]}"
            seen[key] = path.name
        for ext in lang.extensions:
            assert ext not in extensions, f".{ext} in {path.name} and {extensions[ext]}"
            extensions[ext] = path.name


def test_the_registry_loads_every_file_without_dpkg() -> None:
    registry = Registry.load(dpkg=False)
    assert [lang.name for lang in registry.all()] == sorted(p.stem for p in DATA_FILES)
    assert all(lang.version == "unknown" for lang in registry.all())
    assert set(registry.missing()) | {lang.name for lang in registry.available()} == {
        p.stem for p in DATA_FILES}


def test_python_is_the_only_zygote_language() -> None:
    registry = Registry.load(dpkg=False)
    assert [lang.name for lang in registry.all() if lang.zygote] == ["python"]


# --- schema validation --------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "message"), [
    ({"colour": "red"}, "key 'colour': unknown key"),
    ({"name": None}, "key 'name': is required"),
    ({"name": "Toy"}, "key 'name': 'Toy' must be lowercase"),
    ({"name": 3}, "key 'name': must be a string, not int"),
    ({"run": None}, "key 'run': is required"),
    ({"run": []}, "key 'run': must be a non-empty list"),
    ({"run": "./main"}, "key 'run': must be a non-empty list"),
    ({"compile": ["toyc", "{source}"]}, "key 'compile': argv[0] must be an absolute path"),
    ({"compile": None}, "key 'artifacts': only a language with `compile`"),
    ({"artifacts": []}, "key 'artifacts': a compiled language must keep"),
    ({"artifacts": ["../main"]}, "key 'artifacts'"),
    ({"compile": None, "artifacts": None}, "key 'run': argv[0] must be an absolute path"),
    ({"run": ["/usr/bin/toy", "{src}"]}, "key 'run': unknown placeholder {src}"),
    ({"source": "/abs/main.toy"}, "key 'source'"),
    ({"extensions": [".toy"]}, "key 'extensions': '.toy': give extensions without the dot"),
    ({"aliases": ["toy lang"]}, "key 'aliases'"),
    ({"aliases": ["a", "a"]}, "key 'aliases': has duplicates"),
    ({"extensions": ["r", "R"]}, "key 'extensions': has duplicates"),
    ({"packages": ["Not A Package"]}, "key 'packages'"),
    ({"version_package": None}, "key 'version_package': is required"),
    ({"requires": ["usr/bin/x"]}, "key 'requires': 'usr/bin/x' must be an absolute path"),
    ({"zygote": "ruby"}, "key 'zygote': 'ruby' is not one of"),
    ({"mounts": ["etc/java"]}, "key 'mounts'"),
    ({"mounts": [{"source": "/etc/x", "writable": True}]}, "key 'mounts': unknown key"),
    ({"mounts": [{"target": "/etc/x"}]}, "key 'mounts.source': is required"),
    ({"mounts": [{"source": "/etc/x", "optional": "yes"}]}, "key 'mounts.optional'"),
    ({"mounts": ["/etc/x", {"source": "/etc/y", "target": "/etc/x"}]}, "same target"),
    ({"env": {"1BAD": "x"}}, "key 'env': bad variable name '1BAD'"),
    ({"env": {"GOOD": 1}}, "key 'env': GOOD must be a string"),
    ({"run_limits": {"memory": 5}}, "key 'run_limits': unknown limit 'memory'"),
    ({"compile_limits": {"memory_mb": 0}}, "key 'compile_limits': memory_mb must be a positive"),
    ({"run_limits": {"memory_mb": True}}, "key 'run_limits': memory_mb must be a positive"),
    ({"run_limits": {"memory_mb": "512"}}, "key 'run_limits': memory_mb must be a positive"),
    ({"selftest": None}, "key 'selftest': is required"),
    ({"selftest": {"code": "x"}}, "key 'selftest.expected': is required"),
    ({"selftest": {"code": "x", "expected": "5", "input": ""}}, "key 'selftest': unknown key"),
    ({"selftest": {"code": "  ", "expected": "5"}}, "key 'selftest': code and expected"),
])
def test_schema_errors_name_the_file_and_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(toy(**changes), "/data/toy.toml")
    assert str(info.value).startswith("/data/toy.toml: ")
    assert message in str(info.value)


def test_a_valid_table_gives_a_language() -> None:
    lang = parse(toy(mounts=["/etc/toy", {"source": "/var/lib/toy", "target": "/opt/toy",
                                           "optional": True}],
                     env={"TOYCACHE": "/tmp/toy"}, run_limits={"memory_mb": 512},
                     compile_limits={"cpu_time_ms": 20000}), "toy.toml")
    assert lang.compiled
    assert lang.display == "Toy"
    assert lang.version == "unknown"
    assert lang.mounts == (BindMount("/etc/toy", "/etc/toy"),
                           BindMount("/var/lib/toy", "/opt/toy", optional=True))
    assert lang.env == {"TOYCACHE": "/tmp/toy"}
    assert lang.run_limits == {"memory_mb": 512}
    assert lang.compile_limits == {"cpu_time_ms": 20000}
    assert lang.zygote is None
    assert lang.selftest.stdin == "2 3\n"
    assert lang.path == "toy.toml"


def test_an_interpreted_language_has_no_compile_step() -> None:
    lang = parse(toy(compile=None, artifacts=None, run=["/usr/bin/toy", "{source}"]), "t")
    assert not lang.compiled
    with pytest.raises(ConfigError):
        lang.compile_argv("main.toy")


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"toy\.toml: not valid TOML"):
        load_file(str(path))
    with pytest.raises(ConfigError, match="<string>: not valid TOML"):
        parse_text("[[[")


def test_the_name_must_match_the_file_name(tmp_path: Path) -> None:
    path = write_toy(tmp_path, "toy")
    path.rename(tmp_path / "other.toml")
    with pytest.raises(ConfigError, match="must match the file name 'other'"):
        load_file(str(tmp_path / "other.toml"))


# --- argv placeholders --------------------------------------------------------------------

def test_argv_placeholders() -> None:
    lang = parse(toy(compile=["/usr/bin/toyc", "-m{memory_mb}", "{source}"],
                     run=["/usr/bin/toyvm", "-Xmx{memory_mb}m", "{stem}"],
                     compile_limits={"memory_mb": 1024}), "t")
    assert lang.compile_argv("Prog.toy") == ("/usr/bin/toyc", "-m1024", "Prog.toy")
    assert lang.run_argv("Prog.toy", ["a", "b"]) == ("/usr/bin/toyvm", "-Xmx256m", "Prog",
                                                     "a", "b")
    assert lang.run_argv("dir/Prog.toy", (), Limits(memory_mb=300))[1:3] == ("-Xmx300m",
                                                                            "Prog")
    assert lang.compile_argv("x.toy", Limits(memory_mb=2000))[1] == "-m2000"


def test_shell_braces_are_not_placeholders() -> None:
    lang = parse(toy(compile=None, artifacts=None,
                     run=["/bin/sh", "-c", '{ echo; cat "${1}"; } | x', "sh", "{source}"]), "t")
    assert lang.run_argv("a.toy")[-1] == "a.toy"


# --- resolution ---------------------------------------------------------------------------

@pytest.fixture
def toys(tmp_path: Path) -> Registry:
    write_toy(tmp_path, "toy", aliases='["toylang", "tl"]', extensions='["toy"]',
              package="toy")
    write_toy(tmp_path, "toyscript", aliases='["ts2"]', extensions='["tys"]', package="tys")
    write_toy(tmp_path, "ghost", run="/nonexistent/bin/ghostc", package="ghost-lang")
    registry = Registry.load(str(tmp_path), dpkg=False)
    versions = {"toy": "3.11.2", "toyscript": "unknown", "ghost": "unknown"}
    return Registry([_with_version(lang, versions[lang.name]) for lang in registry.all()],
                    registry.missing())


def _with_version(lang: Language, version: str) -> Language:
    from dataclasses import replace
    return replace(lang, version=version)


def test_get_by_name_or_alias_case_insensitive(toys: Registry) -> None:
    assert toys.get("toy").name == "toy"
    assert toys.get("TOYLANG").name == "toy"
    assert toys.get(" Tl ").name == "toy"
    assert toys.get("ts2").name == "toyscript"


@pytest.mark.parametrize(("wanted", "ok"), [
    (None, True), ("3", True), ("3.11", True), ("3.11.2", True), ("", True),
    ("3.1", False), ("2", False), ("3.11.20", False), ("31", False),
])
def test_version_is_a_prefix_by_whole_components(toys: Registry, wanted: str | None,
                                                  ok: bool) -> None:
    if ok:
        assert toys.get("toy", wanted).version == "3.11.2"
    else:
        with pytest.raises(UnknownLanguage, match="this host has toy 3.11.2"):
            toys.get("toy", wanted)


def test_version_matches() -> None:
    assert version_matches("17", "17.0.15")
    assert not version_matches("1", "17.0.15")
    assert version_matches("unknown", "unknown")


def test_unknown_language_lists_near_names(toys: Registry) -> None:
    with pytest.raises(UnknownLanguage, match="did you mean toy") as info:
        toys.get("toi")
    assert isinstance(info.value, ConfigError)
    with pytest.raises(UnknownLanguage, match="unknown language 'cobol'"):
        toys.get("cobol")


def test_a_missing_toolchain_is_reported_not_a_crash(toys: Registry) -> None:
    assert [lang.name for lang in toys.available()] == ["toy", "toyscript"]
    assert [lang.name for lang in toys.all()] == ["ghost", "toy", "toyscript"]
    assert toys.missing() == {
        "ghost": "/nonexistent/bin/ghostc not installed (Debian package ghost-lang)"}
    with pytest.raises(LanguageUnavailable, match="ghost is not available on this host: "
                       "/nonexistent/bin/ghostc not installed"):
        toys.get("ghost")


def test_missing_requires_and_mounts_disable_a_language(tmp_path: Path) -> None:
    lang = parse(toy(compile=None, artifacts=None, run=["/bin/sh"],
                     requires=["/nonexistent/lib/toy.jar"]), "t")
    assert registry_mod.missing_reason(lang) == (
        "/nonexistent/lib/toy.jar missing (Debian package toy-compiler)")
    lang = parse(toy(compile=None, artifacts=None, run=["/bin/sh"],
                     mounts=["/nonexistent/etc/toy"]), "t")
    assert "/nonexistent/etc/toy (a runtime path) missing" in str(
        registry_mod.missing_reason(lang))
    lang = parse(toy(compile=None, artifacts=None, run=["/bin/sh"],
                     mounts=[{"source": "/nonexistent/x", "optional": True}]), "t")
    assert registry_mod.missing_reason(lang) is None
    not_executable = tmp_path / "toyc"
    not_executable.write_text("")
    lang = parse(toy(compile=[str(not_executable), "{source}"]), "t")
    assert "toyc not installed" in str(registry_mod.missing_reason(lang))


def test_duplicate_names_aliases_or_extensions_across_files(tmp_path: Path) -> None:
    write_toy(tmp_path, "one", aliases='["x"]')
    write_toy(tmp_path, "two", aliases='["x"]')
    with pytest.raises(ConfigError, match="two.toml: name or alias 'x' is also used by"):
        Registry.load(str(tmp_path), dpkg=False)
    (tmp_path / "two.toml").unlink()
    write_toy(tmp_path, "two", extensions='["one"]')
    write_toy(tmp_path, "three", extensions='["one"]')
    with pytest.raises(ConfigError, match="extension 'one' is also used by"):
        Registry.load(str(tmp_path), dpkg=False)


def test_an_empty_data_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no language files"):
        Registry.load(str(tmp_path))


# --- versions from dpkg -------------------------------------------------------------------

@pytest.mark.parametrize(("debian", "upstream"), [
    ("3.11.2-1+b1", "3.11.2"),
    ("1:3.1", "3.1"),
    ("2:1.19~1", "1.19"),
    ("12.2.0-14+deb12u1", "12.2.0"),
    ("1.63.0+dfsg1-2", "1.63.0"),
    ("1.3.31+ds1-1", "1.3.31"),
    ("1.14.0.dfsg-2", "1.14.0"),
    ("1:25.2.3+dfsg-1+deb12u4", "25.2.3"),
    ("20.20.2-1nodesource1+repack1", "20.20.2"),
    ("17.0.15+6-1~deb12u1", "17.0.15"),
    ("5.36.0-7+deb12u2", "5.36.0"),
    ("9.1", "9.1"),
    ("2:2.2.9-1", "2.2.9"),
    ("4.2.2.20221110-2", "4.2.2"),
    ("1.4.5.0-3", "1.4.5.0"),
])
def test_upstream_version(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def test_parse_dpkg_output_skips_packages_without_a_version() -> None:
    text = "python3.11\t3.11.2-6+deb12u6\nghc\t\nlibfoo:amd64\t1.2-3\n\n"
    assert parse_dpkg_output(text) == {"python3.11": "3.11.2", "libfoo": "1.2"}


def test_versions_come_from_one_dpkg_query_call(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "dpkg-query"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {calls}\n"
                    "printf 'toy\\t1:4.2.0-1\\n'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(registry_mod, "DPKG_QUERY", str(fake))
    data = tmp_path / "data"
    data.mkdir()
    write_toy(data, "toy", package="toy")
    write_toy(data, "other", package="other-pkg")
    registry = Registry.load(str(data))
    assert registry.get("toy").version == "4.2.0"
    assert registry.get("other").version == "unknown"
    assert calls.read_text().splitlines() == [
        "-W -f=${Package}\\t${Version}\\n -- other-pkg toy"]


def test_no_dpkg_means_unknown_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_mod, "DPKG_QUERY", "/nonexistent/dpkg-query")
    assert registry_mod.installed_versions(["python3.11"]) == {}


# --- package surface and the setup helper -------------------------------------------------

def test_public_names() -> None:
    assert languages_pkg.__all__ == [
        "Language", "LanguageUnavailable", "Registry", "SelfTest", "UnknownLanguage"]


def _packages(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "language_packages.py")],
                          capture_output=True, text=True, env={**os.environ, **env},
                          check=False)


def test_language_packages_script() -> None:
    everything = _packages({"EXECBOX_LANGUAGES": ""})
    assert everything.returncode == 0
    listed = everything.stdout.split()
    expected: set[str] = set()
    for path in DATA_FILES:
        expected |= set(tomllib.loads(path.read_text())["packages"])
    assert set(listed) == expected and len(listed) == len(expected)
    some = _packages({"EXECBOX_LANGUAGES": "python, C,js"})
    assert some.stdout.split() == ["python3", "gcc", "libc6-dev", "nodejs"]
    bad = _packages({"EXECBOX_LANGUAGES": "python,klingon"})
    assert bad.returncode == 2 and "klingon" in bad.stderr
