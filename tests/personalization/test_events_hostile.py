"""sessions_import against generated hostile files: each one is imported with its bad lines
reported by line (or, with --strict, refused whole), and the rest of the view log untouched."""

import re

import pytest
from django.db import transaction
from hostile import HOSTILE_SETTINGS, LINE_ENDS, NASTY, encoded, hostile_text
from hypothesis import event, given
from hypothesis import strategies as st

from personalization.engine.sessions_file import (
    SESSION_ID_MAX,
    SKU_MAX,
    SessionLine,
    sessions_file_parse,
)
from personalization.events import SOURCE_MAX, SessionImportError, sessions_import
from personalization.models import LIVE_SOURCE, ViewEvent

KNOWN = ["RUN-1", "RUN-2", "RUN-3", "HIK-1", "HIK-2", "LIF-1"]  # the `products` fixture
SKUS = st.one_of(st.sampled_from(KNOWN), st.sampled_from(["NOPE", "run-1", "RUN-1 ", "HIK-9"]))
SESSION_IDS = st.one_of(st.integers(0, 30).map("s{}".format), st.sampled_from(["1", "a b"]))
SOURCES = st.one_of(
    st.sampled_from(["shop", "new.txt", "sessions.txt"]),
    st.sampled_from([LIVE_SOURCE, "x" * (SOURCE_MAX + 1), "x" * SOURCE_MAX, *NASTY]),
)


def log_snapshot(source=None):
    events = ViewEvent.objects.order_by("id")
    if source is not None:
        events = events.exclude(source=source)
    return list(events.values_list("id", "source", "session_id", "sku", "viewed_at"))


@st.composite
def sessions_files(draw) -> bytes:
    """A sessions.txt: most lines a session of catalog SKUs, some not, anything anywhere."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=300))
    careful = draw(st.integers(0, 9)) < 7
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if careful and draw(st.integers(0, 9)):
            fields = [draw(SESSION_IDS), *draw(st.lists(SKUS, min_size=1, max_size=5))]
        else:
            fields = draw(st.lists(st.one_of(SKUS, hostile_text), max_size=5))
        separator = "\t" if careful or draw(st.integers(0, 3)) else draw(st.sampled_from(", ;|"))
        lines.append(separator.join(fields))
    end = draw(LINE_ENDS)
    text = end.join(lines) + draw(st.sampled_from(["", end, end + end, end + "\t" + end]))
    return draw(encoded(text, damage=not careful or draw(st.integers(0, 9)) == 0))


@pytest.fixture
def view_log(products, write_file):
    """The catalog, an import under the source "shop" and a few live views."""
    sessions_import(write_file("shop.txt", "s1\tRUN-1\tRUN-2\ns2\tHIK-1\n"), source="shop")
    for session_id, sku in [("v1", "RUN-1"), ("v1", "HIK-2"), ("v2", "LIF-1")]:
        ViewEvent.objects.create(
            source=LIVE_SOURCE, session_id=session_id, sku=sku, viewed_at="2026-01-01T00:00Z"
        )


@HOSTILE_SETTINGS
@given(content=sessions_files(), source=SOURCES, strict=st.booleans(), unknown=st.booleans())
def test_hostile_sessions_import_or_change_nothing(
    view_log, tmp_path, content, source, strict, unknown
):
    path = tmp_path / "sessions.txt"
    path.write_bytes(content)
    before = log_snapshot()
    with transaction.atomic():  # a savepoint: what a case writes is undone after it
        try:
            report = sessions_import(path, source=source, strict=strict, allow_unknown_skus=unknown)
        except SessionImportError as error:
            event("refused: " + ("--strict" if "--strict" in str(error) else "label"))
            assert log_snapshot() == before
            label = source or path.name  # no label: the file's name
            label_bad = label == LIVE_SOURCE or len(label) > SOURCE_MAX
            label_bad |= bool(re.search(r"[\x00-\x1f\x7f\ud800-\udfff]", label))
            assert label_bad or strict
            lines = re.findall(r"^(.*), line (\d+): ", str(error), re.MULTILINE)
            assert label_bad or (lines and all(name == str(path) for name, _ in lines))
        else:
            event(f"imported: {report.sessions} sessions, {len(report.problems)} problems")
            imported_as_reported(path, report, source or path.name, before, strict, unknown)
        transaction.set_rollback(True)


def imported_as_reported(path, report, source, before, strict, unknown):
    """What an import that went through must have written: the file's good sessions (less
    unknown SKUs) in order, exactly as the parser read them; other sources untouched."""
    assert log_snapshot(source=source) == [row for row in before if row[1] != source]
    assert not (strict and report.problems)
    for problem in report.problems:
        assert problem.startswith(f"{path}, line ")
    with path.open("rb") as handle:
        parsed = [line for line in sessions_file_parse(handle) if isinstance(line, SessionLine)]
    expected = []
    for line in parsed:
        skus = line.skus if unknown else [sku for sku in line.skus if sku in KNOWN]
        expected += [(line.session_id, sku) for sku in skus]
    stored = ViewEvent.objects.filter(source=source).order_by("id")
    assert list(stored.values_list("session_id", "sku")) == expected
    assert report.events == len(expected)
    assert report.sessions == len({session_id for session_id, _ in expected})
    for session_id, sku in expected:
        assert 0 < len(session_id) <= SESSION_ID_MAX and 0 < len(sku) <= SKU_MAX
        for value in (session_id, sku):
            assert value == value.strip() and not re.search(r"[\x00-\x1f\x7f\t]", value)
