"""FAQ pages (Markdown or HTML) into import rows: each question heading with the text after it.

Governments already publish FAQ pages. Their shape varies, so the page is first flattened
into blocks (headings, explicit questions, text) and the questions are then recognised the
same way for both formats: ``<dt>``, ``<summary>`` or ``Q:`` lines when the page has them,
else the heading level that most often ends with a question mark. Higher headings are
sections, the first top heading names the topic, deeper headings stay in the answer.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

from bot.faq.model import Link
from bot.faq.rows import ImportRow, Notice, ReadResult, UnreadableFile
from bot.faq.spreadsheet import clean_answer, clean_question
from bot.faq.tabular import decode, read_bytes

_QUESTION_LABEL = re.compile(
    r"^(?:q|t|p|tanya|pertanyaan|question)\s*:\s*(?:\*\*|__)?\s*", re.IGNORECASE
)
_ANSWER_LABEL = re.compile(r"^[*_]{0,2}(?:a|j|jawab|jawaban|answer)\s*:\s*[*_]{0,2}\s*", re.I)
_NUMBERING = re.compile(r"^\(?\d{1,3}[.)]\s+")


@dataclass(frozen=True)
class Block:
    """A piece of a page: ``heading`` (with level), ``question``, ``text`` or ``end``."""

    kind: str
    line: int
    text: str = ""
    level: int = 0
    links: tuple[Link, ...] = ()


def read_markdown(path: Path, language: str) -> ReadResult:
    notices: list[Notice] = []
    text = decode(read_bytes(path), path.name, notices)
    result = rows_from_blocks(markdown_blocks(text), path.name, language)
    result.notices[:0] = notices
    return result


def read_html(path: Path, language: str) -> ReadResult:
    notices: list[Notice] = []
    parser = _HtmlBlocks()
    parser.feed(decode(read_bytes(path), path.name, notices))
    parser.close()
    parser.flush()
    result = rows_from_blocks(parser.blocks, path.name, language)
    result.title = result.title or clean_question(parser.title) or None
    result.notices[:0] = notices
    return result


# --- from blocks to rows ----------------------------------------------------------------


def rows_from_blocks(blocks: list[Block], name: str, language: str) -> ReadResult:
    explicit = any(block.kind == "question" for block in blocks)
    headings = [block for block in blocks if block.kind == "heading"]
    level = _question_level(headings, explicit)
    if not explicit and level is None:
        raise UnreadableFile("no questions found: use a heading for each question")
    result = ReadResult()
    top = [b for b in headings if b.level == 1]
    if top and level != 1:
        result.title = top[0].text
    current: list[Block] = []
    for block in [*blocks, Block("end", 0)]:
        is_question = block.kind == "question" or (block.kind == "heading" and block.level == level)
        ends = block.kind == "end" or (block.kind == "heading" and (level or 7) > block.level)
        if is_question or ends:
            if current:
                result.rows.append(_row(current, name, language))
            current = [block] if is_question else []
        elif current and block.kind == "heading":
            current.append(Block("text", block.line, f"*{block.text}*"))
        elif current:
            current.append(block)
    return result


def _question_level(headings: list[Block], explicit: bool) -> int | None:
    """The heading level of questions: the one most often ending in "?", else the commonest.

    A page that marks questions (``<dt>``, ``<summary>``, ``Q:``) may still ask some in
    headings; without a question mark its headings are only sections.
    """
    asking = Counter(b.level for b in headings if b.text.endswith("?"))
    if asking:
        return max(asking, key=lambda level: (asking[level], level))
    if explicit:
        return None
    counts = Counter(b.level for b in headings if b.level > 1) or Counter(b.level for b in headings)
    return max(counts, key=lambda level: (counts[level], level)) if counts else None


def _row(blocks: list[Block], name: str, language: str) -> ImportRow:
    question, *parts = blocks
    text = _QUESTION_LABEL.sub("", _NUMBERING.sub("", question.text))
    row = ImportRow(where=f"{name} line {question.line}")
    if clean_question(text.replace("*", "")):
        row.questions[language] = [clean_question(text.replace("*", ""))]
    lines = [part.text for part in parts]
    if lines:
        lines[0] = _ANSWER_LABEL.sub("", lines[0])
    answer = clean_answer("\n".join(lines))
    if answer:
        row.answers[language] = answer
    links = tuple(dict.fromkeys(link for part in parts for link in part.links))
    if links:
        row.links = links
        row.given.add("links")
    return row


# --- Markdown -----------------------------------------------------------------------------

# Every pattern below runs in time linear in the text: a part that repeats ("[^[\]]*",
# "[^*]+?") may not contain what starts the next attempt, so hostile input ("[[[[...",
# "**a **a **a ...", a heading of 100,000 spaces) cannot make the matcher rescan the rest
# of the text from every position (a 200 KB page took 42 s).
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|(\d+)[.)])\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_LINK = re.compile(r"(!?)\[([^\[\]]*)\]\(\s*<?([^()\s<>\[\]]+)>?(?:\s+\"[^\"\[\]]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^<>\s]+)>")
_BOLD = re.compile(r"\*\*(?=\S)([^*]+?)(?<=\S)\*\*|__(?=\S)([^_]+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?![*\w])")


def markdown_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    paragraph: list[tuple[int, str]] = []

    def flush() -> None:
        if paragraph:
            blocks.append(_md_text(paragraph[0][0], " ".join(line for _, line in paragraph)))
            paragraph.clear()

    fenced = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if _FENCE.match(line):
            flush()
            fenced = not fenced
        elif fenced:
            blocks.append(Block("text", number, raw.rstrip()))
        elif heading := _HEADING.match(line):
            flush()
            blocks.append(_md_heading(number, len(heading[1]), _without_closing(heading[2])))
        elif len(paragraph) == 1 and _SETEXT.match(line):
            start, title = paragraph.pop()
            blocks.append(_md_heading(start, 1 if line.startswith("=") else 2, title))
        elif _QUESTION_LABEL.match(line.strip("*_ ")):
            flush()
            question = _md_text(number, line.strip("*_ ").replace("**", ""))
            blocks.append(Block("question", number, question.text))
        elif item := _LIST_ITEM.match(raw):
            flush()
            bullet = f"{item[1]}." if item[1] else "-"
            inline = _md_text(number, item[2])
            blocks.append(Block("text", number, f"{bullet} {inline.text}", links=inline.links))
        elif not line or _SETEXT.match(line):
            flush()
        else:
            paragraph.append((number, line.lstrip("> ").strip()))
    flush()
    return blocks


def _without_closing(text: str) -> str:
    """A heading's text without its optional closing hashes (``## Title ##``)."""
    text = text.rstrip()
    bare = text.rstrip("#")
    return bare.rstrip() if bare != text and (not bare or bare[-1].isspace()) else text


def _md_heading(number: int, level: int, text: str) -> Block:
    return Block("heading", number, _md_text(number, text).text.replace("*", ""), level)


def _md_text(number: int, text: str) -> Block:
    """Markdown inline syntax in the bot's formatting: *bold*, _italic_, full web addresses."""
    links: list[Link] = []

    def link(match: re.Match[str]) -> str:
        image, title, url = match[1], match[2].strip(), match[3]
        if image:
            return title
        if url.startswith(("http://", "https://")):
            links.append(Link(title or urlparse(url).netloc, url))
            return url if not title or title == url else f"{title} ({url})"
        return title

    text = _AUTOLINK.sub(r"\1", _MD_LINK.sub(link, text))
    text = _BOLD.sub(lambda match: f"\x00{match[1] or match[2]}\x00", text)
    text = _ITALIC.sub(r"_\1_", text).replace("\x00", "*")
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!>])", r"\1", text.replace("`", ""))
    return Block("text", number, text, links=tuple(links))


# --- HTML ---------------------------------------------------------------------------------

_SKIPPED = frozenset(
    "script style nav footer header aside noscript template form button select svg iframe".split()
)
_KINDS = {
    **{f"h{n}": "heading" for n in range(1, 7)},
    "dt": "question",
    "summary": "question",
}
_BLOCKS = frozenset(
    "p div li dd td th tr blockquote pre section article main table ul ol dl details "
    "figure figcaption address".split()
) | set(_KINDS)
_ENDS = frozenset(("details", "dl"))


class _HtmlBlocks(HTMLParser):
    """Flattens a page into blocks, remembering the line where each starts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._in_title = False
        self._skipping = 0
        self._kind, self._level, self._line = "text", 0, 0
        self._parts: list[str] = []
        self._links: list[Link] = []
        self._prefix = ""
        self._lists: list[list[int]] = []  # per open list: [number of the next item] or []
        self._href: tuple[str, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        if self._skipping:
            return
        if tag == "title":
            self._in_title = True
        elif tag in _BLOCKS:
            self.flush()
            self._kind = _KINDS.get(tag, "text")
            self._level = int(tag[1]) if self._kind == "heading" else 0
            self._line = self.getpos()[0]
            self._start_list_item(tag)
        elif tag == "br":
            self._parts.append("\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._href = (href, len(self._parts)) if href.startswith("http") else None

    def _start_list_item(self, tag: str) -> None:
        if tag in ("ul", "ol"):
            self._lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            numbering = self._lists[-1] if self._lists else []
            self._prefix = f"{numbering[0]}. " if numbering else "- "
            if numbering:
                numbering[0] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skipping:
            self._skipping -= 1
            return
        if self._skipping:
            return
        if tag == "title":
            self._in_title = False
        elif tag == "a" and self._href is not None:
            href, start = self._href
            text = " ".join("".join(self._parts[start:]).split())
            self._links.append(Link(text or urlparse(href).netloc, href))
            if text != href:
                self._parts.append(f" ({href})")
            self._href = None
        elif tag in _BLOCKS:
            self.flush()
            if tag in ("ul", "ol") and self._lists:
                self._lists.pop()
            if tag in _ENDS:
                self.blocks.append(Block("end", self.getpos()[0]))

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._in_title:
            self.title += data
            return
        if not self._parts and data.strip() and not self._line:
            self._line = self.getpos()[0]
        self._parts.append(re.sub(r"\s+", " ", data))  # only <br> breaks a line in HTML

    def flush(self) -> None:
        lines = [" ".join(line.split()) for line in "".join(self._parts).split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            if self._kind == "text":
                text = self._prefix + text
            self.blocks.append(Block(self._kind, self._line, text, self._level, tuple(self._links)))
            self._prefix = ""
        self._parts, self._links = [], []
        self._kind, self._level, self._line = "text", 0, 0
