"""The documentation names only files inside the repository, and those files exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "dosbox" / "README.md"]
TOP = ("pktdrv", "mtcp_py", "apps", "docs", "dosbox", "tests", "bench")
PATH = re.compile(r"(?<![\w/.])((?:\.\./)+[\w./-]+|(?:" + "|".join(TOP) + r")/[\w./-]*)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_paths_in_docs_stay_inside_the_repository(doc: Path) -> None:
    for match in PATH.finditer(doc.read_text()):
        text = match.group(1).rstrip(".")
        base = doc.parent if text.startswith("..") else REPO
        target = (base / text).resolve()
        assert target.is_relative_to(REPO), f"{doc.name}: {text} is outside the repository"
        assert target.exists(), f"{doc.name}: {text} does not exist"
