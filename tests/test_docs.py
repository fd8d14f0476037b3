"""The README stays short and the documentation's relative links stay whole.

The README is the Space's front page and the entry point: it must keep its Hugging Face
front matter, the two commands a fresh machine runs (the one CI runs among them) and stay
under 15,000 bytes; everything longer lives in docs/, and every relative link and anchor
in README.md and docs/*.md must lead to something that exists.
"""

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_BYTES = 15_000

QUICK_START = (
    "bash setup.sh && .venv/bin/bachata-sep separate "
    "examples/musescore-d-minor/mixture.ogg -o separated"
)
TEST_COMMAND = "bash setup.sh && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without code blocks or code spans, where brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = unicodedata.normalize("NFC", text.strip().lower())
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    return broken


def test_slug_follows_github():
    assert slug("Results on held-out songs (in-distribution)") == (
        "results-on-held-out-songs-in-distribution"
    )
    assert slug("Real recorded samples (`--timbres samples`)") == (
        "real-recorded-samples---timbres-samples"
    )
    assert slug("The web app") == "the-web-app"


def test_link_check_finds_broken_links(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading) [web](https://example.com)\n"
        "[gone](missing.md) ![gone](img.png) [bad](there.md#nope) [self](#nothing)\n"
        "`[code](not-a-link.md)`\n```\n[fenced](not-a-link.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md (no such file)",
        "img.png (no such file)",
        "there.md#nope (no such heading)",
        "#nothing (no such heading)",
    ]


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes; move detail to docs/"


def test_readme_keeps_space_front_matter():
    text = README.read_text()
    assert text.startswith("---\n")
    front = text.split("\n---\n", 1)[0]
    for line in ("sdk: gradio", "app_file: app.py", "python_version:", "sdk_version:"):
        assert line in front


def test_readme_keeps_fresh_machine_commands():
    text = README.read_text()
    assert QUICK_START in text
    assert TEST_COMMAND in text


def test_ci_runs_the_readme_test_command():
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path):
    assert broken_links(path) == []
