"""The docs: every page is linked from the README, and every relative link resolves."""

from __future__ import annotations

import re

import pytest
from shared import ROOT

PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert PAGES, "docs/ holds no page"
    missing = [p.name for p in PAGES if f"](docs/{p.name})" not in readme]
    assert missing == []


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (page.parent / target).exists():
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} links to missing files"
