"""personalization.engine.sessions_file: sessions.txt parsed line by line, problems by line."""

import io

import pytest

from personalization.engine.sessions_file import (
    LineProblem,
    SessionLine,
    SessionsFileError,
    sessions_file_parse,
    sessions_file_read,
)


def parsed(text: bytes) -> list:
    return list(sessions_file_parse(io.BytesIO(text)))


def test_each_line_is_a_session_or_a_problem_with_its_line_number():
    lines = parsed(
        b"\xef\xbb\xbfs1\tA\tB\r\n"  # a BOM and Windows line ends are tolerated
        b"\n"  # blank: skipped, still counted
        b"s2\tA\t\tB\n"
        b"s3\n"
        b"s1\tC\n"
        b"s4\t\xff\n"
    )
    assert lines == [
        SessionLine(1, "s1", ["A", "B"]),
        LineProblem(3, "empty field 3 (two TABs in a row?)"),
        LineProblem(4, "session 's3' has no SKU"),
        LineProblem(5, "session id 's1' repeats line 1"),
        LineProblem(6, "not valid UTF-8 (byte 4 of the line)"),
    ]


def test_progress_is_advanced_by_every_byte_read():
    class Bar:  # the shape of a tqdm bar
        total, n = None, 0

        def update(self, n=1):
            self.n += n

    text = b"".join(f"s{i}\tA{i}\tB{i}\n".encode() for i in range(20_000))
    bar = Bar()
    assert len(list(sessions_file_parse(io.BytesIO(text), progress=bar))) == 20_000
    assert bar.n == len(text)


def test_reading_a_file_stops_at_the_first_problem_naming_file_and_line(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_bytes(b"s1\tA\n" + b"s2\t" + b"X" * 65 + b"\n")
    with pytest.raises(SessionsFileError, match=r"sessions\.txt, line 2: sku 'XXXX"):
        sessions_file_read(path)
    path.write_bytes(b"s1\tA\tB\n")
    assert sessions_file_read(path) == [SessionLine(1, "s1", ["A", "B"])]


def test_old_mac_line_ends_split_sessions_as_editors_show_them():
    assert parsed(b"s1\tA\rs2\tB\r\rs3\tC\r\ns4\tD") == [
        SessionLine(1, "s1", ["A"]),
        SessionLine(2, "s2", ["B"]),
        SessionLine(4, "s3", ["C"]),
        SessionLine(5, "s4", ["D"]),
    ]


def test_control_characters_in_ids_and_skus_are_problems():
    # A NUL cannot be stored by PostgreSQL; the others hide in a terminal or a page.
    assert parsed(b"s\x00\tA\ns2\tA\x1b[31m\ns3\tB\x7f\ns4\tC\n") == [
        LineProblem(1, "control character in the session id"),
        LineProblem(2, "control character in sku 'A\\x1b[31m'"),
        LineProblem(3, "control character in sku 'B\\x7f'"),
        SessionLine(4, "s4", ["C"]),
    ]
