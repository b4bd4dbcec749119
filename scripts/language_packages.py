#!/usr/bin/env python3
"""Print the Debian packages of execbox's languages, one per line, for `apt-get install`.

All languages by default; only those named (or aliased) in the comma-separated env var
EXECBOX_LANGUAGES otherwise, e.g. EXECBOX_LANGUAGES=python,c,java. Standard library only:
it runs with the system python3 before execbox is installed.
"""

from __future__ import annotations

import glob
import os
import sys
import tomllib

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                        "src", "execbox", "languages", "data")


def main() -> int:
    languages = {}
    for path in sorted(glob.glob(os.path.join(DATA_DIR, "*.toml"))):
        with open(path, "rb") as f:
            data = tomllib.load(f)
        for key in [data["name"], *data.get("aliases", [])]:
            languages[key.lower()] = data
    if not languages:
        print(f"language_packages: no language files in {DATA_DIR}", file=sys.stderr)
        return 1
    wanted = [w.strip().lower() for w in os.environ.get("EXECBOX_LANGUAGES", "").split(",")]
    wanted = [w for w in wanted if w]
    if wanted:
        unknown = [w for w in wanted if w not in languages]
        if unknown:
            print(f"language_packages: unknown language(s) in EXECBOX_LANGUAGES: "
                  f"{', '.join(unknown)}", file=sys.stderr)
            return 2
        chosen = [languages[w] for w in wanted]
    else:
        chosen = list({id(d): d for d in languages.values()}.values())
    packages = dict.fromkeys(p for d in chosen for p in d.get("packages", []))
    print("\n".join(packages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
