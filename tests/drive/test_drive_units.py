"""Pure parts of the drive: names, which files are text, the tree's shape."""

from __future__ import annotations

import pytest

from drive.entries import ROOT, Entry, Kind
from drive.errors import InvalidNameError
from drive.names import check_name
from drive.text_files import binary_content_type, decode_text, looks_textual
from drive.tree import TreeView


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "a/b", "a\\b", "a\0b", "line\nbreak", "\x7f", " x", "x ", "é" * 128, b"x"],
)
def test_bad_names(bad: object) -> None:
    with pytest.raises(InvalidNameError):
        check_name(bad)


@pytest.mark.parametrize("good", ["a", "...", ".hidden", "a b.txt", "日本語.md", "é" * 127 + "x"])
def test_good_names(good: str) -> None:
    assert check_name(good) == good


def test_names_are_normalized_to_nfc() -> None:
    decomposed = "cafe\u0301"
    assert check_name(decomposed) == "café"


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("main.py", None, True),
        ("Dockerfile", None, True),
        ("x.bin", "text/plain", True),
        ("data", "application/json", True),
        ("data", "application/vnd.api+json", True),
        ("photo.png", "image/png", False),
        ("unknown", None, None),
        ("unknown", "application/octet-stream", None),
    ],
)
def test_which_files_are_text(name: str, content_type: str | None, expected: bool | None) -> None:
    assert looks_textual(name, content_type) is expected


def test_text_sniffing() -> None:
    assert decode_text("héllo".encode()) == "héllo"
    assert decode_text("\ufeffbom".encode()) == "bom"
    assert decode_text(b"nul\0byte") is None
    assert decode_text(b"\xff\xfe") is None


def test_binary_content_types() -> None:
    assert binary_content_type("a.png", None) == "image/png"
    assert binary_content_type("a", "application/octet-stream") == "application/octet-stream"
    assert binary_content_type("a", "Image/PNG; q=1") == "image/png"
    assert binary_content_type("a.pdf", "not a type\r\nx: y") == "application/pdf"


def make(entry_id: str, parent: str, trashed: bool = False, kind: Kind = Kind.FOLDER) -> Entry:
    return Entry(
        entry_id, "ws", parent, entry_id, kind, "u", 1.0, "u", 1.0,
        trashed_at=5.0 if trashed else None,
    )  # fmt: skip


def test_tree_view_live_trash_subtree_and_paths() -> None:
    view = TreeView(
        [
            make("a", ROOT),
            make("b", "a", trashed=True),
            make("c", "b"),
            make("d", "a", kind=Kind.TEXT),
            make("e", ROOT, trashed=True),
        ]
    )
    assert {e.id for e in view.live()} == {"a", "d"}
    assert {e.id for e in view.trashed()} == {"b", "e"}
    assert [e.id for e in view.subtree("a")] == ["a", "b", "d", "c"]
    assert [path for path, _ in view.live_files("a")] == ["d"]
    assert view.subtree("missing") == []


def test_tree_view_survives_a_damaged_store() -> None:
    view = TreeView([make("x", "y"), make("y", "x")])
    assert {e.id for e in view.subtree("x")} == {"x", "y"}
    assert view.live() == []
