"""The README's Layout names modules that exist, each under the folder it is listed in."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_block() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1].splitlines()


def test_every_module_the_layout_names_exists() -> None:
    root, folder, missing, named = "", "", [], 0
    for line in _layout_block():
        top = re.match(r"([\w.-]+)/", line)
        if top:
            root, folder = top.group(1), ""
        sub = re.match(r"  (\w+)/\s", line)
        if sub:
            folder = sub.group(1)
        elif re.match(r"  \S", line):
            folder = ""  # a module of the package itself (main.py)
        for name in re.findall(r"\b(\w+\.py)\b", line):
            named += 1
            if not (ROOT / root / folder / name).is_file():
                missing.append(f"{root}/{folder}/{name}")
    assert named > 50
    assert not missing, missing
