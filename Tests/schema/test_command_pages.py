"""Every command's page in man/ (generated from the commands' help: scripts/generate-man.sh)
has a DESCRIPTION, examples and an EXIT STATUS that lists only the statuses the command can
end with: 2 only where --detailed-exitcode applies (cairn plan), 3 only for the commands
whose jobs can finish with files not read or written. cairn(1) lists every status."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# cairn.help.1 is swift-argument-parser's own `help` command, with no text of ours.
PAGES = sorted(p for p in (ROOT / "man").glob("cairn*.1") if p.name != "cairn.help.1")

# The statuses beyond 0, 1 and 64, and the pages that list them.
WITH_2 = {"cairn.1", "cairn.plan.1"}
WITH_3 = {"cairn.1", "cairn.backup.1", "cairn.apply.1", "cairn.run-due.1", "cairn.seed-load.1", "cairn.restore.1"}

# What man(1) shows unbroken on an 80-column terminal, after the section's indentation.
WIDTH = 73


def description(page):
    """The DESCRIPTION section's text before the options list, split into its prose, the
    lines of its Examples: block and the lines of its EXIT STATUS block."""
    text = page.read_text()
    match = re.search(r"^\.Sh DESCRIPTION\n(.*?)(?=^\.Bl |^\.Sh )", text, re.MULTILINE | re.DOTALL)
    assert match, f"{page.name} has no DESCRIPTION section"
    lines = match.group(1).rstrip("\n").split("\n")
    assert "EXIT STATUS:" in lines, f"{page.name}: its DESCRIPTION has no EXIT STATUS: block"
    status = lines.index("EXIT STATUS:")
    examples = lines.index("Examples:") if "Examples:" in lines else status
    block = []
    for line in lines[examples + 1:status]:
        if not line.strip():
            break
        block.append(line)
    return lines[:examples], block, lines[status + 1:]


def command(page):
    """`cairn key remove` for cairn.key.remove.1."""
    return " ".join(page.name[: -len(".1")].split("."))


def statuses(page):
    _, _, block = description(page)
    return {int(m.group(1)) for line in block if (m := re.match(r"^  (\d+)\s{2,}\S", line))}


def test_every_command_has_a_page():
    # Cairn.swift's subcommands, their subcommands and cairn itself.
    assert len(PAGES) >= 36, [p.name for p in PAGES]
    assert {"cairn.1", "cairn.plan.1", "cairn.key.list.1", "cairn.schedule.status.1"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_has_a_description(page):
    prose, _, _ = description(page)
    text = " ".join(line.strip() for line in prose if line.strip())
    assert len(text) >= 80, f"{page.name}: DESCRIPTION says too little before its examples: {text!r}"
    assert text.rstrip().endswith((".", ")")), f"{page.name}: DESCRIPTION does not end a sentence: {text[-80:]!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_has_examples(page):
    prose, examples, _ = description(page)
    assert examples, f"{page.name}: no Examples: block in its DESCRIPTION"
    commands = [line for line in examples if re.match(r"^  \S", line)]
    assert 2 <= len(commands) <= 5, f"{page.name}: {len(commands)} example command lines, not two to five"
    # An example of this page's command (a parent's page may show its subcommands).
    assert any(command(page) in line for line in commands), f"{page.name}: no example runs {command(page)}"
    # Each command line is explained, beside it or on the next line.
    for number, line in enumerate(examples):
        if not re.match(r"^  \S", line):
            continue
        beside = re.search(r"\S {2,}\S", line.strip())
        below = number + 1 < len(examples) and re.match(r"^ {4,}\S", examples[number + 1])
        assert beside or below, f"{page.name}: the example {line.strip()!r} has no explanation"
    for line in examples:
        assert len(line) <= WIDTH, f"{page.name}: example line of {len(line)} characters: {line!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_exit_status_lists_what_the_command_can_end_with(page):
    codes = statuses(page)
    assert {0, 1, 64} <= codes, f"{page.name} lists {sorted(codes)}"
    assert codes <= {0, 1, 2, 3, 64}, f"{page.name} lists {sorted(codes)}"
    assert (2 in codes) == (page.name in WITH_2), f"{page.name} lists {sorted(codes)}"
    assert (3 in codes) == (page.name in WITH_3), f"{page.name} lists {sorted(codes)}"
    _, _, block = description(page)
    assert block[-1].startswith("  64  "), f"{page.name}: 64 is not last: {block[-1]!r}"
    for line in block:
        assert len(line) <= WIDTH, f"{page.name}: EXIT STATUS line of {len(line)} characters: {line!r}"


def test_exit_status_2_only_where_detailed_exitcode_applies():
    with_2 = {p.name for p in PAGES if 2 in statuses(p)}
    assert with_2 == WITH_2
    # The pages of commands with --detailed-exitcode in their synopsis, and cairn(1), which
    # lists every status.
    detailed = {p.name for p in PAGES if re.search(r"^\.Op Fl -detailed-exitcode$", p.read_text(), re.MULTILINE)}
    assert detailed | {"cairn.1"} == with_2, detailed
