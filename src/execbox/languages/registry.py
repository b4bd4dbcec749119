"""The registry: every data file of ``languages/data``, each language's version on this
host, and which languages can run here (a missing toolchain disables one, never crashes).

Versions come from dpkg's database (one ``dpkg-query`` call for all languages), never by
executing a language's binary: loading the registry runs no untrusted or slow program.
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import replace

from execbox.errors import ConfigError
from execbox.languages.language import UNKNOWN_VERSION, Language, load_file

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DPKG_QUERY = "/usr/bin/dpkg-query"
_SNAPSHOT_DATE = re.compile(r"\.(19|20)\d{6}$")


class UnknownLanguage(ConfigError):
    """No language (or no such version of it) by that name or alias."""


class LanguageUnavailable(UnknownLanguage):
    """The language is known but its toolchain is missing on this host."""


class Registry:
    """Languages by name and alias (case-insensitive), with their availability here."""

    def __init__(self, languages: Iterable[Language],
                 missing: Mapping[str, str] | None = None) -> None:
        self._all = sorted(languages, key=lambda lang: lang.name)
        self._missing = dict(missing or {})
        self._index: dict[str, Language] = {}
        for lang in self._all:
            for key in (lang.name, *lang.aliases):
                other = self._index.get(key)
                if other is not None:
                    raise ConfigError(f"{lang.path}: name or alias {key!r} is also used by "
                                      f"{other.path or other.name}")
                self._index[key] = lang
        extensions: dict[str, Language] = {}
        for lang in self._all:
            for ext in lang.extensions:
                other = extensions.setdefault(ext, lang)
                if other is not lang:
                    raise ConfigError(f"{lang.path}: extension {ext!r} is also used by "
                                      f"{other.path or other.name}")

    @classmethod
    def load(cls, data_dir: str | None = None, *, dpkg: bool = True) -> Registry:
        """Read every ``*.toml`` of ``data_dir``; versions from dpkg unless ``dpkg=False``."""
        directory = data_dir or DATA_DIR
        paths = sorted(glob.glob(os.path.join(glob.escape(directory), "*.toml")))
        if not paths:
            raise ConfigError(f"no language files (*.toml) in {directory}")
        languages = [load_file(p) for p in paths]
        versions = (installed_versions([lang.version_package for lang in languages])
                    if dpkg else {})
        languages = [replace(lang, version=versions.get(lang.version_package, UNKNOWN_VERSION))
                     for lang in languages]
        missing = {}
        for lang in languages:
            reason = missing_reason(lang)
            if reason:
                missing[lang.name] = reason
        return cls(languages, missing)

    def all(self) -> list[Language]:
        return list(self._all)

    def available(self) -> list[Language]:
        return [lang for lang in self._all if lang.name not in self._missing]

    def missing(self) -> dict[str, str]:
        """Name → why it cannot run here (e.g. "/usr/bin/ghc not installed (Debian ...)")."""
        return dict(self._missing)

    def get(self, name_or_alias: str, version: str | None = None) -> Language:
        """The language called ``name_or_alias``; ``version`` ("3", "3.11") must be a
        prefix of its detected version, by whole components."""
        key = name_or_alias.strip().lower()
        lang = self._index.get(key)
        if lang is None:
            near = difflib.get_close_matches(key, list(self._index), n=4, cutoff=0.6)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise UnknownLanguage(f"unknown language {name_or_alias!r}{hint} "
                                  "(`execbox languages` lists them)")
        if lang.name in self._missing:
            raise LanguageUnavailable(f"language {lang.name} is not available on this host: "
                                      f"{self._missing[lang.name]}")
        if version is not None and not version_matches(version, lang.version):
            raise UnknownLanguage(f"{lang.name} {version} is not available; this host has "
                                  f"{lang.name} {lang.version}")
        return lang


def version_matches(wanted: str, have: str) -> bool:
    """``"3"`` and ``"3.11"`` match ``"3.11.2"``; ``"3.1"`` does not."""
    wanted = wanted.strip()
    if not wanted:
        return True
    return have == wanted or have.startswith(wanted + ".")


def missing_reason(lang: Language) -> str | None:
    """Why ``lang`` cannot run on this host, or None when it can."""
    packages = ", ".join(lang.packages) or "?"
    plural = "s" if len(lang.packages) > 1 else ""
    for path in lang.host_paths():
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not installed (Debian package{plural} {packages})"
    for path in lang.requires:
        if not os.path.exists(path):
            return f"{path} missing (Debian package{plural} {packages})"
    for m in lang.mounts:
        if not m.optional and not os.path.exists(m.source):
            return f"{m.source} (a runtime path) missing (Debian package{plural} {packages})"
    return None


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian version: ``1:3.11.2-1+b1`` → ``3.11.2``; repack
    suffixes (``+dfsg1``, ``~ds1``, ``.dfsg``) and a snapshot date are dropped too."""
    v = debian_version.strip()
    if ":" in v:
        v = v.split(":", 1)[1]
    if "-" in v:
        v = v.rsplit("-", 1)[0]
    for sep in ("+", "~"):
        v = v.split(sep, 1)[0]
    for suffix in (".dfsg", ".ds"):
        v = v.removesuffix(suffix)
    v = _SNAPSHOT_DATE.sub("", v)  # r-base-core 4.2.2.20221110
    return v or UNKNOWN_VERSION


def parse_dpkg_output(text: str) -> dict[str, str]:
    """``package<TAB>version`` lines → package → upstream version (installed ones only)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        package, _, version = line.partition("\t")
        package = package.split(":", 1)[0]  # "libfoo:amd64"
        if package and version.strip():
            out[package] = upstream_version(version)
    return out


def installed_versions(packages: Iterable[str]) -> dict[str, str]:
    """Ask dpkg once for the versions of ``packages``; {} when dpkg is not there."""
    wanted = sorted({p for p in packages if p})
    if not wanted or not os.access(DPKG_QUERY, os.X_OK):
        return {}
    try:
        done = subprocess.run(
            [DPKG_QUERY, "-W", "-f=${Package}\\t${Version}\\n", "--", *wanted],
            capture_output=True, text=True, timeout=30, check=False,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_dpkg_output(done.stdout)  # exit 1 only says some are not installed
