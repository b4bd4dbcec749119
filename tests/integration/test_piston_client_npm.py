"""Piston v2 compatibility, driven by the npm `piston-client` (installed by scripts/setup
into tests/clients) in Node, against a live server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.root

CLIENTS = os.path.join(os.path.dirname(__file__), os.pardir, "clients")


def test_the_npm_piston_client_runs_code(server):
    node = shutil.which("node")
    assert node, "node is missing: run scripts/setup"
    assert os.path.isdir(os.path.join(CLIENTS, "node_modules", "piston-client")), \
        "piston-client is missing: run scripts/setup"
    done = subprocess.run([node, "piston_client.mjs", str(server.base_url).rstrip("/")],
                          cwd=CLIENTS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)

    assert "python" in out["runtimes"] and "c" in out["runtimes"]
    hello = out["hello"]
    assert hello["language"] == "python" and hello["version"].startswith("3.")
    assert hello["run"]["stdout"] == "hello world\n" and hello["run"]["code"] == 0
    assert out["stdin"]["run"]["stdout"] == "cba\n"
    assert out["args"]["run"]["stdout"] == "['1', '2', '3']\n"  # the client's default args
    assert out["alias"]["run"]["stdout"] == "42\n"  # an alias, no version: the newest
    compiled = out["compiled"]
    assert compiled["compile"]["code"] == 0 and compiled["run"]["stdout"] == "5\n"
    failing = out["failing"]["run"]
    assert failing["code"] == 1 and failing["stderr"] == "bad\n"
    assert failing["output"] == "bad\n" and failing["status"] == "RE"
    error = out["compileError"]
    assert error["compile"]["code"] != 0 and "error" in error["compile"]["stderr"]
    assert error["run"]["code"] is None
    assert out["files"]["run"]["stdout"] == "from a second file\n"
