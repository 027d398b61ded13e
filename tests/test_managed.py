"""Managed blocks: inserting one and removing it again gives back the exact text, whatever the
file looks like (line endings, blank lines, no final newline, code fences, front matter)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_memory.routing.managed import (
    Edit,
    block_body,
    bullet,
    diff,
    insert_block,
    remove_block,
    render,
)
from mcp_memory.routing.targets import Document, Target, detect_eol, parse

LINES = st.sampled_from(
    [
        "# Title",
        "## Section",
        "### Deeper",
        "- item",
        "text",
        "",
        "   ",
        "```",
        "~~~",
        "| a | b |",
        "---",
        "1. first",
        "  continued",
        "<!-- a comment -->",
        "Café ✓",
        "\tindented",
    ]
)


def document(text: str) -> Document:
    target = Target(path=None, label="CLAUDE.md", scope="project", root=None)  # type: ignore[arg-type]
    return Document(target, text, True, None, detect_eol(text), parse(text), None)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINES, max_size=25),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    pick=st.integers(min_value=0, max_value=50),
)
def test_insert_then_remove_is_the_identity(
    lines: list[str], crlf: bool, final_newline: bool, pick: int
) -> None:
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if final_newline and lines else "")
    doc = document(text)
    if not doc.sections:
        return
    index = pick % len(doc.sections)
    if not doc.sections[index].writable:
        assert index == len(doc.sections) - 1, "only the last section can end in an open fence"
        return
    after = render(doc, [Edit(index, [7], [bullet("a routed memory")])])
    assert after.startswith(text[: doc.sections[index].insert_at])
    sections = parse(after)
    blocks = [s.block for s in sections if s.block is not None]
    assert len(blocks) == 1 and blocks[0].ids == (7,)
    assert sections[index].block is not None, "the block lands in the section it was meant for"
    assert remove_block(after, blocks[0], doc.eol) == text
    if doc.eol == "\r\n":  # a CRLF file stays all CRLF; an LF file gets no CR
        assert after.count("\n") == after.count("\r\n")
    else:
        assert "\r" not in after


def test_a_block_at_the_end_of_a_file_without_final_newline() -> None:
    text = "# T\n\n## A\n- one"
    doc = document(text)
    after = render(doc, [Edit(1, [3], ["- x"])])
    assert (
        after
        == '# T\n\n## A\n- one\n\n<!-- mcp-memory:begin section="A" ids="3" -->\n- x\n<!-- mcp-memory:end -->'
    )
    (block,) = [s.block for s in parse(after) if s.block]
    assert remove_block(after, block, "\n") == text


def test_adding_to_an_existing_block_keeps_its_place_and_lines() -> None:
    body = block_body("A", [1], ["- old"], "\n")
    text = insert_block("## A\n- x\n\n## B\n", 9, body, "\n")
    doc = document(text)
    after = render(doc, [Edit(0, [2], ["- new"])])
    assert after == (
        '## A\n- x\n\n<!-- mcp-memory:begin section="A" ids="1,2" -->\n- old\n- new\n'
        "<!-- mcp-memory:end -->\n\n## B\n"
    )


def test_diff_marks_a_missing_final_newline_and_new_files() -> None:
    assert diff("a", "a\nb", "x.md", True).endswith("\\ No newline at end of file\n")
    assert diff("", "# M\n", "x.md", False).startswith("--- /dev/null\n+++ b/x.md\n")


def test_headings_in_code_fences_and_front_matter_are_not_sections() -> None:
    text = "---\ntitle: x\n---\nintro\n\n```\n# not a heading\n```\n## Real\n- a\n## Real\n- b\n"
    names = [s.name for s in parse(text)]
    assert names == ["", "Real", "Real (2)"]
    assert parse(text)[0].items == ("intro", "``` # not a heading ```")


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINES, max_size=25),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    pick=st.integers(min_value=0, max_value=200),
)
def test_a_block_below_a_line_then_removed_is_the_identity(
    lines: list[str], crlf: bool, final_newline: bool, pick: int
) -> None:
    """A memory extending a line goes directly below it (no blank line), parses back as a
    block of that section but not its own block, and removing it gives the exact text."""
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if final_newline and lines else "")
    doc = document(text)
    spots = [(n, at) for n, sec in enumerate(doc.sections) for at in sec.anchors if at is not None]
    if not spots:
        return
    index, at = spots[pick % len(spots)]
    after = render(doc, [Edit(index, [7], [bullet("a routed memory")], below=at)])
    assert after[:at] == text[:at] and after[at:].startswith("<!-- mcp-memory:begin")
    assert text[:at].rstrip("\r\n").splitlines()[-1].strip(), "directly below a line"
    sections = parse(after)
    (block,) = [b for s in sections for b in s.blocks]
    assert block.ids == (7,) and sections[index].block is None
    assert block in sections[index].blocks
    assert remove_block(after, block, doc.eol) == text
    if doc.eol == "\r\n":
        assert after.count("\n") == after.count("\r\n")
    else:
        assert "\r" not in after
