#!/usr/bin/env python3
"""Every relative link of README.md and the book (docs/src) resolves: the file exists and, for a link to a
markdown page, the #anchor is one of its headings (mdBook's rule: lowercase, spaces to dashes, other
punctuation dropped, a repeated heading gets -1, -2, ...). SUMMARY.md names only pages that exist, and every
page of docs/src is in it (a page outside SUMMARY.md is not in the built book). No build needed.

Pages other open work adds are PENDING: while one is missing, a link to it is reported, not failed; once it
exists it is checked like any page. Before the real check, a self-test shows that a broken link and a broken
anchor fail the check. Exit code 1 on any broken link."""

import os
import re
import sys
import tempfile

# Pages being written on other branches; remove an entry once it has landed.
PENDING = set()

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), with an optional "title"; the text may hold `code` or one level of [..].
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ID = re.compile(r"\{#([\w-]+)[^}]*\}\s*$")
HTML_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def heading_id(text):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading counts by its text
    text = re.sub(r"<[^>]+>", "", text)
    out = []
    for ch in text:
        if ch.isalnum() or ch in "_-":
            out.append(ch.lower() if ch.isascii() else ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def anchors(path):
    ids, seen = set(), {}
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for _, line in prose_lines(text):
        ids.update(HTML_ID.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        title = m.group(2)
        explicit = EXPLICIT_ID.search(title)
        if explicit:
            ids.add(explicit.group(1))
            continue
        base = heading_id(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        ids.add(base if count == 0 else f"{base}-{count}")
    return ids


def links(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for number, line in prose_lines(text):
        m = REFERENCE.match(line)
        if m:
            yield number, m.group(1)
            continue
        for m in INLINE_LINK.finditer(INLINE_CODE.sub("", line)):
            yield number, m.group(1)


def markdown_files(root):
    files = [os.path.join(root, "README.md")]
    for directory, _, names in os.walk(os.path.join(root, "docs", "src")):
        files += [os.path.join(directory, n) for n in sorted(names) if n.endswith(".md")]
    return [f for f in files if os.path.isfile(f)]


def check(root, pending=frozenset()):
    """(broken, waiting): 'file:line: message' for each broken link, and for each link to a missing pending page."""
    broken, waiting, cache = [], [], {}
    for source in markdown_files(root):
        shown = os.path.relpath(source, root)
        for number, target in links(source):
            if not target or SCHEME.match(target):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(source), path)) if path else source
            name = os.path.relpath(resolved, root)
            where = f"{shown}:{number}"
            if not os.path.exists(resolved):
                (waiting if name in pending else broken).append(f"{where}: {target} ({name} does not exist)")
                continue
            if anchor and resolved.endswith(".md"):
                if resolved not in cache:
                    cache[resolved] = anchors(resolved)
                if anchor not in cache[resolved]:
                    broken.append(f"{where}: {target} (no heading #{anchor} in {name})")
    summary = os.path.join(root, "docs", "src", "SUMMARY.md")
    if os.path.isfile(summary):
        listed = {os.path.normpath(os.path.join(os.path.dirname(summary), t.partition("#")[0]))
                  for _, t in links(summary) if t and not SCHEME.match(t)}
        for page in markdown_files(root):
            if page.startswith(os.path.dirname(summary) + os.sep) and page != summary and page not in listed:
                broken.append(f"{os.path.relpath(page, root)}: not in docs/src/SUMMARY.md, so not in the book")
    return broken, waiting


def self_test():
    """The check fails on a missing page, a missing anchor and a page left out of SUMMARY.md, and passes the rest."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs", "src", "guide"))
        files = {
            "README.md": "# T\n[ok](docs/src/guide/a.md#a-b-c)\n[gone](docs/src/guide/gone.md)\n"
                         "[later](docs/src/guide/later.md)\n`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n",
            "docs/src/SUMMARY.md": "# Summary\n- [A](guide/a.md)\n- [Later](guide/later.md)\n",
            "docs/src/guide/a.md": "# A: b `c`\n[self](#a-b-c) [no](#nothing) [web](https://example.com/x.md)\n",
            "docs/src/guide/orphan.md": "# Orphan\n",
        }
        for name, text in files.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        broken, waiting = check(root, pending={"docs/src/guide/later.md"})
        expected = [
            "README.md:3: docs/src/guide/gone.md (docs/src/guide/gone.md does not exist)",
            "docs/src/guide/a.md:2: #nothing (no heading #nothing in docs/src/guide/a.md)",
            "docs/src/guide/orphan.md: not in docs/src/SUMMARY.md, so not in the book",
        ]
        assert broken == expected, f"self-test: the link check reported {broken}, not {expected}"
        assert len(waiting) == 2, f"self-test: pending links {waiting}"  # README's and SUMMARY.md's


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    self_test()
    broken, waiting = check(root, PENDING)
    for line in waiting:
        print(f"pending: {line}")
    for line in broken:
        print(f"broken link: {line}", file=sys.stderr)
    checked = len(markdown_files(root))
    if broken:
        print(f"link check: {len(broken)} broken in {checked} files", file=sys.stderr)
        return 1
    print(f"link check: {checked} files, every relative link and anchor resolves "
          f"({len(waiting)} to pages still pending)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
