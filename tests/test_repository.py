"""The repository names no absolute folder of one machine (data comes from
``SPARSECODE_DATA``, ``--data`` or a path relative to the repository)."""

import os
import re

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
SUFFIXES = (".py", ".md", ".rst", ".toml", ".cfg", ".txt", ".yml", ".yaml")
#: Home-like roots of one machine ("/" + name + "/"; spelled so that this file passes).
PATTERN = re.compile("(?<![\\w.$~])/(" + "|".join(["wo" + "rk", "ho" + "me", "ro" + "ot"])
                     + ")/")


def _files():
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in (
            "__pycache__", "_build", "build", "dist", "generated") and not d.endswith(
            ".egg-info")]
        for name in files:
            if name.endswith(SUFFIXES):
                yield os.path.join(root, name)


@pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, "sparsecode")),
                    reason="tests copied away from the repository (CI copies tests only)")
def test_no_absolute_machine_paths_in_the_repository():
    hits = []
    for path in _files():
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if PATTERN.search(line):
                    hits.append(f"{os.path.relpath(path, REPO)}:{number}: {line.strip()}")
    assert not hits, "absolute machine paths:\n" + "\n".join(hits)


def test_pattern_catches_a_machine_path():
    assert PATTERN.search("--data " + "/" + "work" + "/shared/data/Set11")
    assert not PATTERN.search("--data $SPARSECODE_DATA/Set12 and path/to/work/x")
