"""Reading `sessions.txt`: one session a line, TAB separated, the session id first, then the
SKUs viewed in order (the seed's format, also used by public click-log benchmarks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from common.progress import Progress

SESSION_ID_MAX = 128
SKU_MAX = 64
# A NUL cannot be stored by PostgreSQL, and no id or SKU holds a control character on purpose.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SessionLine:
    line: int
    session_id: str
    skus: list[str]


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: str


class SessionsFileError(ValueError):
    """A line that cannot be read, with the file and line it is on."""

    def __init__(self, path: Path, line: int, problem: str):
        super().__init__(f"{path}, line {line}: {problem}")
        self.path, self.line, self.problem = path, line, problem


def sessions_file_parse(
    handle: BinaryIO, *, progress: Progress | None = None
) -> Iterator[SessionLine | LineProblem]:
    """Each non-blank line as a SessionLine, or as a LineProblem saying what is wrong with it.

    `progress` is advanced by the bytes read, every 64 KiB or so.
    """
    first_line_of: dict[str, int] = {}
    pending = 0
    for number, raw in enumerate(_lines(handle), start=1):
        if progress is not None:
            pending += len(raw)
            if pending >= 1 << 16:
                progress.update(pending)
                pending = 0
        parsed = _line_parse(raw, number, first_line_of)
        if parsed is not None:
            yield parsed
    if progress is not None and pending:
        progress.update(pending)


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """The file's lines, split at LF, CRLF and the lone CR of old Mac exports."""
    for raw in handle:
        if b"\r" in raw:
            yield from raw.splitlines(keepends=True)
        else:
            yield raw


def sessions_file_read(path: Path) -> list[SessionLine]:
    """Every session of a file that must be well formed; SessionsFileError at the first problem."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SessionsFileError(path, 0, f"cannot open file: {exc.strerror}") from exc
    sessions = []
    with handle:
        for parsed in sessions_file_parse(handle):
            if isinstance(parsed, LineProblem):
                raise SessionsFileError(path, parsed.line, parsed.problem)
            sessions.append(parsed)
    return sessions


def _line_parse(
    raw: bytes, number: int, first_line_of: dict[str, int]
) -> SessionLine | LineProblem | None:
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return LineProblem(number, f"not valid UTF-8 (byte {exc.start + 1} of the line)")
    if not text.strip():
        return None  # blank lines separate nothing and are not sessions
    fields = text.split("\t")
    session_id, skus = fields[0].strip(), [sku.strip() for sku in fields[1:]]
    if not session_id:
        return LineProblem(number, "empty session id")
    if not skus:
        return LineProblem(number, f"session {session_id!r} has no SKU")
    if "" in skus:
        return LineProblem(number, f"empty field {skus.index('') + 2} (two TABs in a row?)")
    if len(session_id) > SESSION_ID_MAX:
        return LineProblem(number, f"session id longer than {SESSION_ID_MAX} characters")
    too_long = next((sku for sku in skus if len(sku) > SKU_MAX), None)
    if too_long is not None:
        return LineProblem(number, f"sku {too_long[:20]!r}... longer than {SKU_MAX}")
    if CONTROL.search(session_id):
        return LineProblem(number, "control character in the session id")
    bad = next((sku for sku in skus if CONTROL.search(sku)), None)
    if bad is not None:
        return LineProblem(number, f"control character in sku {bad[:20]!r}")
    if session_id in first_line_of:
        return LineProblem(
            number, f"session id {session_id!r} repeats line {first_line_of[session_id]}"
        )
    first_line_of[session_id] = number
    return SessionLine(number, session_id, skus)
