"""Root tests run for real or, when root is required (CI), fail instead of skipping."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("EXECBOX_REQUIRE_ROOT_TESTS"):
        raise pytest.UsageError("EXECBOX_REQUIRE_ROOT_TESTS is set but not running as root")
    skip = pytest.mark.skip(reason="needs root (namespaces, cgroups, seccomp)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
