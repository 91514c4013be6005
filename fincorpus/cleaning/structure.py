"""Text structure back into extracted text: titles on their own line, run-on announcements in parts, table rows.

Measured in issue 13: 240 of 246 exchange texts had no line break at all (the disclosure body is one run of
header fields, title, statement, sections and signature), titles ran into the first sentence, and tables came out
as markdown with separator rows. Line structure matters downstream (line-based quality signals, boilerplate and
template lines, readers), so it is restored here from what Chinese documents themselves mark, never from a
site's markup:

- the title: when the text opens with the page title run into the body ("标题新浪体育讯北京时间…") the title
  goes on its own line, and a heading line that the body repeats word for word is not kept twice;
- run-on announcement lines (one line over RUN_ON_CHARS): line breaks after the header fields (证券代码 … 公告编号
  …) and the title, after the board's statement (…保证…真实、准确、完整…。), before numbered sections (一、 （二）
  3、 after a sentence or clause end), around 特此公告 and 备查文件, and between the signing body and its date;
- tables: one row per line, cells separated by " | ", without the markdown separator row (|---|---|) or the
  outer pipes.

Only line breaks are inserted and markdown separators dropped: the characters of the text are otherwise the same.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

STEP = "structure:lines"
RUN_ON_CHARS = 150  # a line this long with section markers inside is a run-on document, not a paragraph
MIN_TITLE_CHARS = 6

# A label's value stops before the next label ((?!...)\S: a tempered token). With a plain \S+? each of the up to
# four values could run across any later label, and a fuzzed line of 50 "股票简称：…" without 公告编号 took 14 s to
# fail (combinatorial backtracking); now a value ends where the next label starts, and a failing line is linear.
_LABEL = r"(?:(?:证券|股票|债券|基金)(?:代码|简称)|公告编号|编号)"
_HEADER = re.compile(
    rf"^(?:(?:证券|股票|债券|基金)(?:代码|简称)\s*[：:]\s*(?:(?!{_LABEL})\S)+?\s*+[，,;；]?\s*+){{1,4}}"
    r"(?:公告编号|编号)\s*[：:]\s*(?:临\s*)?[0-9A-Za-z][0-9A-Za-z\-—－_–]*"
)
_STATEMENT = re.compile(r"^.{0,40}?(?:保证|承诺).{0,40}?真实.{0,200}?(?:遗漏|责任)[^。]{0,40}。")
_SECTION = re.compile(
    r"(?<=[。；;：:！？])\s*(?=(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[）)]|\d{1,2}、(?!\d)))"
)
# (?<!\s): a match starts where a run of spaces starts, never inside it; without it a search retried \s* from every
# space of a long run (8 s on a 30 KB line, found by bench/fuzz). Same for _TITLE_SUFFIX.
_CLOSING = re.compile(r"(?<![、）)\s])\s*(特此公告[。！!]?|备查文件[：:]?)\s*")
_SIGN_DATE = re.compile(
    r"(?<=[会司行所部局心])\s*(?=(?:(?:19|20)\d{2}|[二〇○零][〇○零一二三四五六七八九]{3})\s*年\s*[\d一二三四五六七八九十]{1,2}\s*月"
    r"\s*[\d一二三四五六七八九十]{1,3}\s*日\s*\d?$)"
)
_MD_SEPARATOR = re.compile(r"^\s*\|?(?:\s*:?-{3,}:?\s*\|)+\s*+:?-*+:?\s*+$")  # possessive tail: linear
_TITLE_PREFIX = re.compile(r"^[^：:]{1,16}[：:]")  # "全新好：关于…的公告" -> the issuer's short name
_TITLE_SUFFIX = re.compile(r"(?<!\s)\s*[_|｜\-–—]\s*[^_|｜\-–—]{1,30}$")  # "标题_网站名" / "标题 - 网站名"


@dataclass(frozen=True)
class Structured:
    text: str
    breaks: int  # line breaks inserted
    table_rows: int  # markdown table rows rewritten
    title_split: bool


def _key(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s)).rstrip("…. ")


def restore(text: str, title: str | None = None) -> Structured:
    """Title on its own line, run-on lines split at their document markers, tables as rows (see module doc)."""
    lines = text.split("\n")
    lines, rows = _tables(lines)
    lines, title_split = _separate_title(lines, title)
    out: list[str] = []
    breaks = 0
    for i, line in enumerate(lines):
        if len(line) >= RUN_ON_CHARS:
            parts = _split_run_on(line, title if i < 3 else None)
            breaks += len(parts) - 1
            out.extend(parts)
        else:
            out.append(line)
    return Structured("\n".join(out), breaks + title_split, rows, title_split)


def _tables(lines: list[str]) -> tuple[list[str], int]:
    """trafilatura writes tables as markdown ('| a | b | ' rows and a '|---|---|' row): keep one row per line
    with ' | ' between cells, drop the separator row and the outer pipes."""
    out: list[str] = []
    rows = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.count("|") >= 2:
            if _MD_SEPARATOR.match(stripped):
                rows += 1
                continue
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            out.append(" | ".join(c for c in cells if c) if any(cells) else "")
            rows += 1
        else:
            out.append(line)
    return out, rows


def _title_forms(title: str | None) -> list[str]:
    if not title:
        return []
    forms = [title.strip(), _TITLE_SUFFIX.sub("", title.strip())]
    forms += [_TITLE_PREFIX.sub("", f) for f in forms]
    return sorted({f for f in forms if len(_key(f)) >= MIN_TITLE_CHARS}, key=len, reverse=True)


def _separate_title(lines: list[str], title: str | None) -> tuple[list[str], bool]:
    """'标题正文第一句…' -> '标题', '正文第一句…'; a heading line the next line repeats is dropped."""
    forms = _title_forms(title)
    first = next((i for i, x in enumerate(lines) if x.strip()), None)
    if first is None or not forms:
        return lines, False
    for i in (first, first + 1):
        if i >= len(lines):
            break
        line = lines[i].strip()
        for form in forms:
            cut = _prefix_end(line, form)
            if cut is None or cut >= len(line):
                continue
            head, rest = line[:cut].rstrip(), line[cut:].lstrip()
            if not any(ch.isalnum() for ch in rest[:5]) or rest[0] in "，。、；：,.;:）)」』”":
                continue  # the title is the whole line ("标题…"), or the cut would split a sentence
            truncated = (title or "").rstrip().endswith(("…", "..."))
            # a title cut at a character count ("…国元…") ends mid-word: the body line is not split at it
            new = [*lines[:i], lines[i]] if truncated else [*lines[:i], head, rest]
            new += lines[i + 1 :]
            if i == first + 1 and _key(lines[first]) == _key(head):
                del new[first]  # the page's heading, repeated by the body: keep it once
            elif truncated:
                continue
            return new, not truncated
    return lines, False


def _prefix_end(line: str, form: str) -> int | None:
    """Index in ``line`` just after ``form`` when the line starts with it (whitespace and width ignored)."""
    want = _key(form)
    got = ""
    for j, ch in enumerate(line):
        if ch.isspace():
            continue
        got += unicodedata.normalize("NFKC", ch)
        if not want.startswith(got):
            return None
        if got == want:
            return j + 1
    return None


def _split_run_on(line: str, title: str | None) -> list[str]:
    if not (_HEADER.match(line) or _SECTION.search(line) or _CLOSING.search(line)):
        return [line]
    parts: list[str] = []
    rest = line
    header = _HEADER.match(rest)
    if header:
        parts.append(rest[: header.end()])
        rest = rest[header.end() :].lstrip()
        for form in _title_forms(title) or []:
            pos = rest.find(form, 0, 120)
            if pos >= 0:
                end = pos + len(form)
                parts.append(rest[:end])
                rest = rest[end:].lstrip()
                break
        else:
            m = re.match(r"^.{4,80}?公告(?=本公司|本行|公司董事会|董事会)", rest)
            if m:
                parts.append(m.group(0))
                rest = rest[m.end() :]
    statement = _STATEMENT.match(rest)
    if statement and (header or len(parts) > 0):
        parts.append(rest[: statement.end()])
        rest = rest[statement.end() :]
    rest = _SECTION.sub("\n", rest)
    rest = _CLOSING.sub(lambda m: "\n" + m.group(1) + "\n", rest)
    pieces = rest.split("\n")
    if pieces:
        pieces[-1] = _SIGN_DATE.sub("\n", pieces[-1])
    parts.extend(p for x in pieces for p in x.split("\n"))
    return [p.strip() for p in parts if p.strip()]
