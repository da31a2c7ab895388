"""An answer's code blocks become edits: the fences (as CommonMark reads them), the target in
the info string, and the lines of the file a block replaces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from assistant.threads.edits import (
    NoMatchError,
    TargetError,
    fences,
    locate,
    replacement,
    span,
    target,
)

FILE = """\
import os

def load(path):
    with open(path) as f:
        return f.read()

def save(path, text):
    with open(path, 'w') as f:
        f.write(text)

def main():
    print(load(os.environ['CONFIG']))
"""


def apply(text: str, code: str, lines: tuple[int, int] | None = None) -> str:
    start_line, end_line = locate(text, code, lines)
    start, end = span(text, start_line, end_line)
    return text[:start] + replacement(text, start, end, code) + text[end:]


def test_fences_are_read_in_order_with_their_info_and_an_unclosed_one_runs_to_the_end() -> None:
    answer = (
        "Change both:\n\n```python path=a.py lines=1-2\nx = 1\n\ny = 2\n```\n"
        "then\n  ~~~~ js path=b.js\n  let a\n    nested\n  ~~~~~\n"
        "inline ```not a fence``` here\n```\nopen to the end\n"
    )
    found = fences(answer)
    assert [(f.index, f.info, f.code, f.line, f.closed) for f in found] == [
        (0, "python path=a.py lines=1-2", "x = 1\n\ny = 2", 3, True),
        (1, "js path=b.js", "let a\n  nested", 9, True),
        (2, "", "open to the end", 14, False),
    ]


def test_deeper_indented_fences_in_list_items_count_too() -> None:
    answer = "1. first\n    - nested\n\n      ```py path=x.py\n      a = 1\n      ```\n"
    [block] = fences(answer)
    assert block.code == "a = 1" and block.closed


_line = st.one_of(
    st.sampled_from(["", "text", "  more text", "# head", "```", "~~~", "````"]),
    st.builds(
        lambda indent, fence, info: " " * indent + fence + info,
        st.integers(0, 3),
        st.sampled_from(["```", "````", "~~~", "~~~~"]),
        st.sampled_from(["", "python", " py path=a.py lines=1-3", "js `x`", "x~y"]),
    ),
    st.text(alphabet="ab `~", max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=14))  # no containers: lists and quotes are out of scope
def test_the_scanner_reads_fences_as_markdown_it_does(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    tokens = [t for t in MarkdownIt("commonmark").parse(text) if t.type == "fence"]
    ours = fences(text)
    assert [(t.info.strip(), t.content.removesuffix("\n")) for t in tokens] == [
        (f.info, f.code) for f in ours
    ]


def test_the_info_string_names_language_path_and_lines() -> None:
    assert target("python path=src/app.py lines=10-24") == target(
        "python  lines=10-24 path=./src/app.py"
    )
    found = target("python path=src/app.py lines=10-24")
    assert (found.language, found.path, found.lines) == ("python", "src/app.py", (10, 24))
    assert target('md path="my notes.md" lines=3').lines == (3, 3)
    assert target('md path="my notes.md"').path == "my notes.md"
    assert target("path=a.py").language is None
    assert target("python").path is None
    for bad in ("lines=0-2", "lines=5-2", "lines=a-b", "lines=1-2-3"):
        with pytest.raises(TargetError):
            target(f"py path=a.py {bad}")


def test_given_lines_are_replaced_with_the_newlines_kept() -> None:
    changed = apply(FILE, "def load(path, encoding='utf-8'):", (3, 3))
    assert changed == FILE.replace("def load(path):", "def load(path, encoding='utf-8'):")
    with pytest.raises(NoMatchError, match="12 lines"):
        locate(FILE, "x", (12, 13))
    with pytest.raises(NoMatchError, match="already"):
        locate(FILE, "import os", (1, 1))


def test_without_lines_the_block_replaces_the_region_its_unchanged_lines_anchor() -> None:
    block = "def save(path, text):\n    with open(path, 'w', encoding='utf-8') as f:\n        f.write(text)"
    assert locate(FILE, block) == (7, 9)
    assert apply(FILE, block) == FILE.replace("'w')", "'w', encoding='utf-8')")


def test_changed_first_lines_replace_the_lines_they_resemble_and_new_ones_are_inserted() -> None:
    block = "# Saves the text.\ndef save(path, text, mode='w'):\n    with open(path, 'w') as f:\n        f.write(text)"
    assert locate(FILE, block) == (7, 9)
    changed = apply(FILE, block)
    assert "# Saves the text.\ndef save(path, text, mode='w'):\n    with open(path, 'w')" in changed
    assert "def save(path, text):" not in changed


def test_a_far_away_repeat_of_a_line_does_not_stretch_the_region() -> None:
    text = "import os\n" + "".join(f"x{i} = {i}\n" for i in range(200)) + FILE
    block = "import os\n\ndef main():\n    print(load(os.environ['TANDEM_CONFIG']))"
    start, end = locate(text, block)
    assert end - start < 10
    assert apply(text, block).endswith("    print(load(os.environ['TANDEM_CONFIG']))\n")


def test_a_block_with_no_equal_line_finds_the_most_similar_window() -> None:
    block = "def load(p):\n    with open(p) as f:\n        return f.read()"
    assert locate(FILE, block) == (3, 5)


def test_an_empty_file_is_replaced_whole_and_an_unrelated_block_matches_nothing() -> None:
    assert locate("", "print(1)") == (1, 0)
    assert apply("", "print(1)") == "print(1)\n"
    with pytest.raises(NoMatchError, match="matches no part"):
        locate(FILE, "SELECT name FROM users WHERE id = 4;\nDROP TABLE x;")
    with pytest.raises(NoMatchError):
        locate(FILE, "")


def test_the_last_line_of_a_file_without_a_final_newline_stays_without() -> None:
    text = "a = 1\nb = 2"
    assert apply(text, "b = 3", (2, 2)) == "a = 1\nb = 3"
    assert apply(text, "a = 0\nb = 0", (1, 2)) == "a = 0\nb = 0"
