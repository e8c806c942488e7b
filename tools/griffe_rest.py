"""A griffe extension for the documentation site: the library's reST-flavoured docstrings as
Markdown, so mkdocstrings shows them as they read in the source.

The docstrings are written for ``help()`` and the source (reST roles and literals, simple
tables); the site renders Markdown. This rewrites, for the site only:

- ``:class:`X```, ``:func:`X``` and the other roles → `` `X` `` (a ``~`` prefix dropped);
- double back-quoted literals → single back-quoted code;
- a simple table (rows between lines of ``====``) → a fenced text block, kept as laid out;
- a paragraph ending in ``::`` → ``:`` (the indented block after it is code in Markdown too).

Named in mkdocs.yml (``extensions: [tools/griffe_rest.py]``); nothing of the library changes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`~?\.?([^`]+)`")
LITERAL = re.compile(r"``([^`]+)``")
RULE = re.compile(r"^=+( +=+)+$")


def fence_tables(text: str) -> str:
    """Each reST simple table (a rule, a header, a rule, rows, a rule) in a text fence."""
    lines, out, rules = text.split("\n"), [], 0
    for line in lines:
        if RULE.match(line.strip()):
            rules += 1
            if rules == 1:
                out.append("```text")
            out.append(line)
            if rules == 3:
                out.append("```")
                rules = 0
            continue
        out.append(line)
    return "\n".join(out)


def markdown(text: str) -> str:
    """The docstring ``text`` in Markdown."""
    text = fence_tables(text)
    parts = re.split(r"(```text\n.*?\n```)", text, flags=re.DOTALL)
    for index in range(0, len(parts), 2):
        part = ROLE.sub(r"`\1`", parts[index])
        part = LITERAL.sub(r"`\1`", part)
        parts[index] = re.sub(r"(\S)::\n", r"\1:\n", part)
    return "".join(parts)


class RestToMarkdown(griffe.Extension):
    """Rewrite every docstring griffe loads (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring, if it has one."""
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
