import os
import stat
import threading

import pytest

from execbox.errors import ConfigError
from execbox.runner.compile_cache import CachedArtifacts, CompileCache, cache_key

BASE = dict(
    language="c++",
    version="13.2",
    compile_argv=["g++", "-O2", "main.cpp"],
    sources=[("main.cpp", b"int main(){}"), ("util.h", b"#pragma once")],
    options={"std": "c++20"},
)


def key(n: int) -> str:
    return cache_key("c", "1", ["cc"], [("a.c", b"%d" % n)])


def mode(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def leftovers(root) -> list[str]:
    return os.listdir(root / "tmp") + os.listdir(root / "trash")


# -- cache_key -------------------------------------------------------------------------------


def test_key_is_stable_and_ignores_order_of_sources_and_options():
    k = cache_key(**BASE)
    assert len(k) == 64 and int(k, 16) >= 0
    assert cache_key(**BASE) == k
    assert cache_key(**{**BASE, "sources": list(reversed(BASE["sources"]))}) == k
    assert cache_key(**{**BASE, "options": {"std": "c++20"}}) == k
    two = {"a": "1", "b": "2"}
    assert cache_key(**{**BASE, "options": two}) == cache_key(
        **{**BASE, "options": dict(reversed(two.items()))})
    assert cache_key("c", "1", ["cc"], []) == cache_key("c", "1", ["cc"], [], {})


@pytest.mark.parametrize("change", [
    {"language": "c"},
    {"version": "13.3"},
    {"compile_argv": ["g++", "-O3", "main.cpp"]},
    {"compile_argv": ["g++", "-O2", "main.cpp", ""]},
    {"sources": [("main.cpp", b"int main(){ }"), ("util.h", b"#pragma once")]},
    {"sources": [("main.cc", b"int main(){}"), ("util.h", b"#pragma once")]},
    {"sources": [("main.cpp", b"int main(){}")]},
    {"options": {"std": "c++17"}},
    {"options": {"Std": "c++20"}},
    {"options": None},
])
def test_every_input_changes_the_key(change):
    assert cache_key(**{**BASE, **change}) != cache_key(**BASE)


def test_field_boundaries_are_unambiguous():
    assert cache_key("ab", "c", [], []) != cache_key("a", "bc", [], [])
    assert cache_key("l", "v", ["ab", "c"], []) != cache_key("l", "v", ["a", "bc"], [])
    assert cache_key("l", "v", ["a b"], []) != cache_key("l", "v", ["a", "b"], [])
    assert cache_key("l", "v", ["x"], []) != cache_key("l", "vx", [], [])
    assert cache_key("l", "v", [], [("ab", b"c")]) != cache_key("l", "v", [], [("a", b"bc")])
    assert cache_key("l", "v", [], [], {"ab": "c"}) != cache_key("l", "v", [], [], {"a": "bc"})
    assert cache_key("l", "v", ["1"], []) != cache_key("l", "v", [], [], {"1": ""})


def test_duplicate_source_names_are_rejected():
    with pytest.raises(ConfigError):
        cache_key("c", "1", ["cc"], [("a.c", b"1"), ("a.c", b"2")])


# -- put / get --------------------------------------------------------------------------------


def test_put_get_round_trip(tmp_path):
    root = tmp_path / "cache"
    cache = CompileCache(str(root))
    assert mode(str(root)) == 0o711
    k = key(1)
    assert cache.get(k) is None
    files = {"main": b"\x7fELF...", "pkg/A.class": b"cafe", "pkg/sub/B.class": b"babe!"}
    got = cache.put(k, files, executable=["main"])
    assert got == CachedArtifacts(
        key=k, directory=str(root / k[:2] / k / "files"),
        files=("main", "pkg/A.class", "pkg/sub/B.class"), size=7 + 4 + 5,
    )
    assert os.path.isabs(got.directory)
    assert sorted(os.listdir(got.directory)) == ["main", "pkg"]  # no lock or manifest in it
    for name, data in files.items():
        assert (root / k[:2] / k / "files" / name).read_bytes() == data
    assert mode(os.path.join(got.directory, "main")) == 0o755
    assert mode(os.path.join(got.directory, "pkg/A.class")) == 0o644
    assert mode(os.path.join(got.directory, "pkg/sub/B.class")) == 0o644
    assert mode(got.directory) == mode(os.path.join(got.directory, "pkg/sub")) == 0o755
    assert cache.get(k) == got
    assert cache.put(k, {"other": b"ignored"}) == got  # content-addressed: first one stays
    assert cache.size() == got.size
    assert CompileCache(str(root)).get(k) == got  # another process's view
    assert CompileCache(str(root)).size() == got.size  # recomputed by scanning
    assert leftovers(root) == []


def test_modes_do_not_depend_on_umask(tmp_path):
    old = os.umask(0o077)
    try:
        got = CompileCache(str(tmp_path / "c")).put(key(1), {"d/x": b"1", "y": b"2"},
                                                    executable=["y"])
    finally:
        os.umask(old)
    assert mode(got.directory + "/d") == 0o755
    assert mode(got.directory + "/d/x") == 0o644
    assert mode(got.directory + "/y") == 0o755


@pytest.mark.parametrize("files", [
    {"": b""}, {"/etc/passwd": b""}, {"../x": b""}, {"a/../../x": b""}, {"a//b": b""},
    {"a/": b""}, {".": b""}, {"a/./b": b""}, {"x\0y": b""}, {"a": b"", "a/b": b""},
    {"a/b": b"", "a/b/c": b""},
])
def test_bad_names_are_rejected(tmp_path, files):
    cache = CompileCache(str(tmp_path / "c"))
    with pytest.raises(ConfigError):
        cache.put(key(1), files)
    assert cache.get(key(1)) is None
    assert leftovers(tmp_path / "c") == []
    assert sorted(os.listdir(tmp_path)) == ["c"]


def test_bad_executable_and_bad_keys_are_rejected(tmp_path):
    cache = CompileCache(str(tmp_path))
    with pytest.raises(ConfigError):
        cache.put(key(1), {"a": b""}, executable=["b"])
    for bad in ["", "../" + "a" * 61, "A" * 64, "a" * 63, "a" * 65, "/" + "a" * 63]:
        with pytest.raises(ConfigError):
            cache.get(bad)
        with pytest.raises(ConfigError):
            cache.put(bad, {"a": b""})


# -- eviction ---------------------------------------------------------------------------------


def test_eviction_is_lru_and_respects_max_bytes(tmp_path):
    cache = CompileCache(str(tmp_path), max_bytes=300)
    a, b, c, d, e = (key(i) for i in range(5))
    for k in (a, b, c):
        cache.put(k, {"x": b"." * 100})
    assert cache.size() == 300
    assert cache.get(a) is not None  # a is now more recent than b and c
    cache.put(d, {"x": b"." * 100})
    assert cache.get(b) is None
    assert [cache.get(k) is not None for k in (a, c, d)] == [True, True, True]
    assert cache.size() == 300
    cache.put(e, {"x": b"." * 250})  # c, a, d are least recently used now (get order)
    assert [cache.get(k) is not None for k in (a, c, d, e)] == [False, False, False, True]
    assert cache.size() == 250
    assert leftovers(tmp_path) == []


def test_an_entry_bigger_than_max_bytes_is_kept_once_put(tmp_path):
    cache = CompileCache(str(tmp_path), max_bytes=100)
    cache.put(key(0), {"x": b"." * 50})
    got = cache.put(key(1), {"x": b"." * 500})
    assert cache.get(key(1)) == got
    assert cache.get(key(0)) is None
    assert cache.size() == 500


def test_lru_order_survives_a_restart(tmp_path):
    cache = CompileCache(str(tmp_path), max_bytes=300)
    for i in range(3):
        cache.put(key(i), {"x": b"." * 100})
    cache.get(key(0))
    cache = CompileCache(str(tmp_path), max_bytes=300)
    cache.put(key(3), {"x": b"." * 100})
    assert cache.get(key(1)) is None
    assert cache.get(key(0)) is not None


def test_a_leased_entry_is_not_evicted(tmp_path):
    cache = CompileCache(str(tmp_path), max_bytes=200)
    cache.put(key(0), {"x": b"." * 100})
    with cache.lease(key(0)) as held:
        assert held is not None and held.key == key(0)
        for i in range(1, 4):
            cache.put(key(i), {"x": b"." * 100})
            assert os.path.isfile(os.path.join(held.directory, "x"))
        cache.clear()
        assert os.path.isfile(os.path.join(held.directory, "x"))
    cache.put(key(4), {"x": b"." * 150})
    cache.put(key(5), {"x": b"." * 150})
    assert cache.get(key(0)) is None


def test_lease_of_a_missing_entry_yields_none(tmp_path):
    cache = CompileCache(str(tmp_path))
    with cache.lease(key(0)) as held:
        assert held is None
    cache.put(key(0), {"x": b"1"})
    cache.clear()
    with cache.lease(key(0)) as held:
        assert held is None
    assert cache.size() == 0


def _in_child(body) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_an_entry_leased_by_another_process_is_not_evicted(tmp_path):
    cache = CompileCache(str(tmp_path), max_bytes=200)
    cache.put(key(0), {"x": b"." * 100})
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def child():
        with CompileCache(str(tmp_path), max_bytes=200).lease(key(0)) as held:
            assert held is not None
            os.write(ready_w, b"1")
            os.read(go_r, 1)

    pid = _in_child(child)
    try:
        assert os.read(ready_r, 1) == b"1"
        other = CompileCache(str(tmp_path), max_bytes=200)  # no in-process lease here
        for i in range(1, 4):
            other.put(key(i), {"x": b"." * 100})
        other.clear()
        assert other.get(key(0)) is not None
    finally:
        os.write(go_w, b"1")
        assert _exit_code(pid) == 0
    other.put(key(4), {"x": b"." * 150})
    other.put(key(5), {"x": b"." * 150})
    assert other.get(key(0)) is None
    for fd in (ready_r, ready_w, go_r, go_w):
        os.close(fd)


def test_an_entry_removed_by_another_process_is_tolerated(tmp_path):
    mine = CompileCache(str(tmp_path), max_bytes=250)
    mine.put(key(0), {"x": b"." * 100})
    mine.put(key(1), {"x": b"." * 100})
    theirs = CompileCache(str(tmp_path), max_bytes=250)
    theirs.clear()
    theirs.put(key(2), {"x": b"." * 100})
    mine.put(key(3), {"x": b"." * 100})  # its index is stale: reconciled before evicting
    assert mine.size() == 200
    assert mine.get(key(0)) is None and mine.get(key(2)) is not None
    assert mine.size() == 200


# -- concurrency ------------------------------------------------------------------------------


def _assert_one_entry(root, k, files):
    shard = root / k[:2]
    assert k in os.listdir(shard)  # keys may share a shard
    assert sorted(os.listdir(shard / k)) == ["files", "lock", "manifest.json"]
    for name, data in files.items():
        assert (shard / k / "files" / name).read_bytes() == data
    assert leftovers(root) == []


def test_concurrent_puts_of_one_key_from_threads(tmp_path):
    cache = CompileCache(str(tmp_path))
    files = {"bin/prog": b"x" * 10_000, "lib/a.so": b"y" * 1000}
    barrier = threading.Barrier(8)
    results: list[CachedArtifacts] = []

    def worker():
        barrier.wait()
        results.append(cache.put(key(7), files, executable=["bin/prog"]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert cache.size() == 11_000
    _assert_one_entry(tmp_path, key(7), files)


def test_concurrent_puts_from_processes(tmp_path):
    keys = [key(i) for i in range(30)]
    files = {"a/b": b"z" * 5000, "c": b"w"}
    CompileCache(str(tmp_path))
    go_r, go_w = os.pipe()

    def child():
        cache = CompileCache(str(tmp_path))
        os.read(go_r, 1)
        for k in keys:
            got = cache.put(k, files)
            assert got.size == 5001 and got.files == ("a/b", "c")

    pids = [_in_child(child) for _ in range(2)]
    os.write(go_w, b"11")
    assert [_exit_code(pid) for pid in pids] == [0, 0]
    for k in keys:
        _assert_one_entry(tmp_path, k, files)
    assert CompileCache(str(tmp_path)).size() == 30 * 5001
    os.close(go_r)
    os.close(go_w)


# -- links planted in the root ----------------------------------------------------------------


def test_a_symlink_at_the_entry_is_not_followed(tmp_path):
    root, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    (outside / "files").mkdir()
    (outside / "manifest.json").write_text('{"files": ["x"], "size": 1}')
    cache = CompileCache(str(root))
    k = key(1)
    (root / k[:2]).mkdir()
    (root / k[:2] / k).symlink_to(outside)
    assert cache.get(k) is None
    with cache.lease(k) as held:
        assert held is None
    got = cache.put(k, {"x": b"1", "d/y": b"2"})
    assert sorted(os.listdir(outside)) == ["files", "manifest.json"]
    assert os.listdir(outside / "files") == []
    assert not os.path.islink(root / k[:2] / k)
    assert (root / k[:2] / k / "files" / "d" / "y").read_bytes() == b"2"
    assert cache.get(k) == got


def test_a_symlink_at_the_shard_is_not_followed(tmp_path):
    root, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    cache = CompileCache(str(root))
    k = key(2)
    (root / k[:2]).symlink_to(outside)
    got = cache.put(k, {"x": b"1"})
    assert os.listdir(outside) == []
    assert not os.path.islink(root / k[:2])
    assert (root / k[:2] / k / "files" / "x").read_bytes() == b"1"
    assert got.directory == str(root / k[:2] / k / "files")


def test_a_relative_root_gives_absolute_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = CompileCache("rel").put(key(1), {"x": b"1"})
    assert got.directory == str(tmp_path / "rel" / key(1)[:2] / key(1) / "files")
    monkeypatch.chdir("/")
    with open(os.path.join(got.directory, "x"), "rb") as f:
        assert f.read() == b"1"


def test_an_empty_artifact_set_is_an_entry(tmp_path):
    cache = CompileCache(str(tmp_path))
    got = cache.put(key(1), {})
    assert got.files == () and got.size == 0 and os.listdir(got.directory) == []
    assert cache.get(key(1)) == got
