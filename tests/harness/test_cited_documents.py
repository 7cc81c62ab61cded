"""Every document the repository cites is in the repository.

The design notes and the style guide sevflow grew from lived outside it; their content is now
docs/ARCHITECTURE.md. A file that still points at them sends a reader to something they cannot open.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Spelled in pieces so that this file, which is scanned too, does not cite them itself.
OUTSIDE_DOCUMENTS = ("DESIGN" + ".md", "STYLE" + ".md", ".." + "/shared")

# Not the repository's files: what .gitignore leaves out (local state, caches, build output) and git's own.
NOT_IN_REPOSITORY = frozenset(
    {
        ".git",
        ".venv",
        ".sevflow",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        "build",
        "test-artifacts",
    }
)


def repository_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for path in sorted(root.iterdir()):
        if path.name in NOT_IN_REPOSITORY or path.name.endswith(".egg-info") or path.is_symlink():
            continue
        if path.is_dir():
            files += repository_files(path)
        elif path.is_file():
            files.append(path)
    return files


def citations(root: Path) -> list[str]:
    found: list[str] = []
    for path in repository_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # a binary file cites nothing
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            found += [f"{path.relative_to(root)}:{number}: {doc}" for doc in OUTSIDE_DOCUMENTS if doc in line]
    return found


def test_no_file_cites_a_document_outside_the_repository() -> None:
    found = citations(ROOT)
    assert not found, "cited but not in the repository (see docs/ARCHITECTURE.md):\n" + "\n".join(found)


def test_the_scan_finds_a_citation_and_skips_what_is_not_in_the_repository(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("see " + OUTSIDE_DOCUMENTS[1] + "\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "b.py").write_text(OUTSIDE_DOCUMENTS[0])
    (tmp_path / "c.bin").write_bytes(b"\xff\xfe" + OUTSIDE_DOCUMENTS[2].encode())
    assert citations(tmp_path) == [f"{Path('docs', 'a.md')}:1: {OUTSIDE_DOCUMENTS[1]}"]
