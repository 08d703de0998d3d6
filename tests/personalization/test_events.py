"""personalization.events: sessions.txt import, replacement, removal and export."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from personalization.events import (
    SessionImportError,
    sessions_export,
    sessions_import,
    sessions_remove,
)
from personalization.models import LIVE_SOURCE, ViewEvent


def log_snapshot():
    return sorted(ViewEvent.objects.values_list("source", "session_id", "sku", "id"))


def sessions_of(source):
    sessions = {}
    for session_id, sku in (
        ViewEvent.objects.filter(source=source).order_by("id").values_list("session_id", "sku")
    ):
        sessions.setdefault(session_id, []).append(sku)
    return sessions


def test_import_keeps_sessions_and_view_order(products, write_file):
    path = write_file("sessions.txt", "s1\tRUN-1\tRUN-3\tRUN-1\ns2\tHIK-2\tHIK-1\n")
    report = sessions_import(path)
    assert (report.source, report.sessions, report.events) == ("sessions.txt", 2, 5)
    assert sessions_of("sessions.txt") == {
        "s1": ["RUN-1", "RUN-3", "RUN-1"],
        "s2": ["HIK-2", "HIK-1"],
    }
    assert report.problems == []


def test_import_reports_malformed_lines_with_numbers_and_keeps_the_rest(products, write_file):
    content = (
        "s1\tRUN-1\tRUN-2\n"  # 1 good
        "s2\n"  # 2 no SKU
        "s3\tRUN-1\t\tRUN-2\n"  # 3 empty field
        "\tRUN-1\n"  # 4 empty session id
        "\n"  # 5 blank: ignored
        "s1\tHIK-1\n"  # 6 repeated id
        "s4\tHIK-1\tHIK-2\t\n"  # 7 trailing TAB = empty field
    )
    path = write_file("sessions.txt", content)
    report = sessions_import(path)
    assert report.sessions == 1
    assert [line for line, _ in report.malformed] == [2, 3, 4, 6, 7]
    assert report.problems[0] == f"{path}, line 2: session 's2' has no SKU"
    assert "repeats line 1" in report.problems[3]


def test_import_reports_unknown_skus_and_drops_them(products, write_file):
    path = write_file("sessions.txt", "s1\tRUN-1\tNOPE\tRUN-2\ns2\tGONE\ns3\tHIK-1\n")
    report = sessions_import(path)
    assert report.unknown_skus == [(1, "NOPE"), (2, "GONE")]
    assert report.sessions_emptied == [2]
    assert sessions_of("sessions.txt") == {"s1": ["RUN-1", "RUN-2"], "s3": ["HIK-1"]}
    assert f"{path}, line 1: unknown sku 'NOPE'" in report.problems


def test_allow_unknown_skus_keeps_items_outside_the_catalog(db, write_file):
    path = write_file("bench.txt", "1\t214821026\t214821028\n2\t214706432\n")
    report = sessions_import(path, allow_unknown_skus=True)
    assert report.events == 3 and report.unknown_skus == []
    assert sessions_of("bench.txt") == {"1": ["214821026", "214821028"], "2": ["214706432"]}


@pytest.mark.parametrize(
    "bad_line",
    ["s9\tUNKNOWN\n", "s9\n", "s9\tRUN-1\t\n", "s9\tRUN-\xff\n"],
    ids=["unknown-sku", "no-sku", "empty-field", "undecodable"],
)
def test_strict_import_fails_whole_and_keeps_previous_import(products, write_file, bad_line):
    sessions_import(write_file("sessions.txt", "s1\tRUN-1\tRUN-2\n"), source="shop")
    before = log_snapshot()
    content = b"s1\tHIK-1\ns2\tHIK-2\n" + bad_line.encode("latin-1")
    with pytest.raises(SessionImportError, match=r"line 3: "):
        sessions_import(write_file("new.txt", content), source="shop", strict=True)
    assert log_snapshot() == before


def test_importing_a_source_again_replaces_it(products, write_file):
    path = write_file("sessions.txt", "s1\tRUN-1\tRUN-2\ns2\tHIK-1\n")
    sessions_import(path, source="sample")
    ViewEvent.objects.create(
        source=LIVE_SOURCE, session_id="x", sku="RUN-1", viewed_at="2026-01-01T00:00Z"
    )
    again = sessions_import(path, source="sample")
    assert again.replaced_events == 3
    assert ViewEvent.objects.filter(source="sample").count() == 3
    assert ViewEvent.objects.filter(source=LIVE_SOURCE).count() == 1


def test_remove_deletes_one_source_only(products, write_file):
    sessions_import(write_file("a.txt", "s1\tRUN-1\n"), source="a")
    sessions_import(write_file("b.txt", "s1\tRUN-2\n"), source="b")
    assert sessions_remove("a") == 1
    assert list(ViewEvent.objects.values_list("source", flat=True)) == ["b"]
    with pytest.raises(SessionImportError):
        sessions_remove(LIVE_SOURCE)


def test_live_label_is_reserved_for_the_shop(products, write_file):
    with pytest.raises(SessionImportError, match="reserved"):
        sessions_import(write_file("a.txt", "s1\tRUN-1\n"), source=LIVE_SOURCE)


def test_import_export_import_is_lossless(products, write_file, tmp_path):
    content = "s2\tHIK-2\tHIK-1\ns1\tRUN-1\tRUN-3\tRUN-1\ns3\tLIF-1\n"
    sessions_import(write_file("sessions.txt", content), source="first")
    first_export = tmp_path / "export-1.txt"
    assert sessions_export(first_export) == (3, 6)
    assert first_export.read_text() == content  # same sessions, same order
    sessions_remove("first")
    sessions_import(first_export, source="second", strict=True)
    second_export = tmp_path / "export-2.txt"
    sessions_export(second_export)
    assert second_export.read_text() == content


def test_export_interleaved_live_sessions_groups_them_in_start_order(products, tmp_path):
    for session_id, sku in [("b", "RUN-1"), ("a", "HIK-1"), ("b", "RUN-2"), ("a", "HIK-2")]:
        ViewEvent.objects.create(
            source=LIVE_SOURCE, session_id=session_id, sku=sku, viewed_at="2026-01-01T00:00Z"
        )
    path = tmp_path / "live.txt"
    sessions_export(path)
    assert path.read_text() == "b\tRUN-1\tRUN-2\na\tHIK-1\tHIK-2\n"


def test_load_sessions_command_prints_problems_and_summary(products, write_file):
    path = write_file("sessions.txt", "s1\tRUN-1\tNOPE\ns2\n")
    out, err = StringIO(), StringIO()
    call_command("load_sessions", str(path), "--source", "demo", stdout=out, stderr=err)
    assert "1 sessions, 1 events imported" in out.getvalue()
    assert "1 malformed lines, 1 unknown SKUs" in out.getvalue()
    assert f"{path}, line 1: unknown sku 'NOPE'" in err.getvalue()
    assert f"{path}, line 2: session 's2' has no SKU" in err.getvalue()


def test_load_sessions_command_strict_fails_and_writes_nothing(products, write_file):
    path = write_file("sessions.txt", "s1\tRUN-1\ns2\n")
    with pytest.raises(CommandError, match="line 2: session 's2' has no SKU"):
        call_command("load_sessions", str(path), "--strict")
    assert ViewEvent.objects.count() == 0


def test_export_and_remove_commands(products, write_file, tmp_path):
    call_command("load_sessions", str(write_file("s.txt", "s1\tRUN-1\n")), stdout=StringIO())
    out = StringIO()
    call_command("export_sessions", str(tmp_path / "out.txt"), stdout=out)
    assert "1 sessions, 1 events" in out.getvalue()
    call_command("remove_sessions", "s.txt", stdout=StringIO())
    assert ViewEvent.objects.count() == 0
    with pytest.raises(CommandError, match="no events with source"):
        call_command("remove_sessions", "s.txt")


def test_a_source_label_with_a_control_character_is_refused(products, write_file):
    with pytest.raises(SessionImportError, match="control character"):
        sessions_import(write_file("a.txt", "s1\tRUN-1\n"), source="shop\x00")
    assert ViewEvent.objects.count() == 0


def test_a_file_name_that_is_not_utf8_needs_a_source_label(products, tmp_path):
    path = tmp_path / b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # as argv gives it
    path.write_text("s1\tRUN-1\n")
    with pytest.raises(SessionImportError, match="not valid UTF-8; name one with --source"):
        sessions_import(path)
    assert sessions_import(path, source="cafe").events == 1
