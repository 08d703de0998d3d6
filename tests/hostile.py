"""Hypothesis strategies for hostile input files (imported as `from hostile import ...`): text
that breaks parsers, databases and pages, encoded and damaged the ways real files are."""

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# What a hostile file's importer must survive: CSV and TSV syntax, spreadsheet formulas,
# markup and script, paths, encodings' corner cases, Unicode that reorders or hides text.
NASTY = [
    "", " ", "  x  ", "\t", "\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x85",
    '"', '""', '"x"', 'a"b', "'", ",", ";", "|", "\\", "\\n", "\x00", "\x7f", "\x1b[31m",
    "\u2028", "\u2029", "\u202e", "\u200b", "\ufeff", "\u00a0", "\u3000", "\u0301",
    "=cmd|' /C calc'!A0", "+SUM(1,1)", "-2+3", "@SUM(A1)", '=HYPERLINK("http://evil")',
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</textarea>",
    "javascript:alert(1)", "data:text/html,<b>", "https://x.invalid/a.png\"onerror=\"alert(6)",
    "https://img.example.com/a.png", "images/b2.png", "images", "images/dir.png",
    "images/../b2.png", "../../etc/passwd", "/etc/passwd", "//evil.example/x", "C:\\x.png",
    "%00", "%s%n", "{{7*7}}", "${7*7}", "' OR 1=1 --", "NaN", "null", "-0", "1e308",
    "A1", "B2", "C3", "a1", "A1 ", "RUN-1", "HIK-1", "s1", "live",
    "ＡＢＣ", "𝔘𝔫𝔦", "🏃\u200d♀️", "é", "e\u0301", "ß", "İ", "\U0010ffff", "\ud800", "\udfff",
]  # fmt: skip

# Every Unicode code point, lone surrogates included (written with "surrogatepass": bytes that
# are not UTF-8, as a broken exporter writes them).
any_character = st.characters(exclude_categories=())
csv_syntax = st.sampled_from(list(",\"'\r\n\t \\;=+-@") + ["\x00", "\ufeff", "\u2028"])

hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(any_character, max_size=12),
    st.text(st.one_of(csv_syntax, st.sampled_from("aZ09-_./:")), max_size=12),
    st.lists(st.sampled_from(NASTY), min_size=2, max_size=4).map("".join),
    st.sampled_from(["x" * 300, "y" * 1100, "z" * 140_000]),  # over each field's limit, csv's
)


@st.composite
def encoded(draw, text: str, *, damage: bool = True) -> bytes:
    """`text` as a file holds it: UTF-8 mostly, with or without a BOM, else an encoding that is
    not UTF-8; then, with `damage`, maybe damaged: bytes inserted, the file cut short."""
    choices = ["utf-8"] * 6 + ["utf-8-sig"] * 2 + (["latin-1", "utf-16"] if damage else [])
    encoding = draw(st.sampled_from(choices))
    if encoding == "utf-8":
        data = text.encode("utf-8", "surrogatepass")
    elif encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    else:
        data = text.encode(encoding, "replace" if encoding == "latin-1" else "surrogatepass")
    if not damage:
        return data
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, len(data)))
        junk = draw(st.one_of(st.binary(min_size=1, max_size=4), st.sampled_from(JUNK)))
        data = data[:where] + junk + data[where:]
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


# Bytes that are not UTF-8 or are special to a reader: a lone continuation byte, an overlong
# '/', an encoded surrogate, a code point past U+10FFFF, a BOM in the middle, NUL, CR.
JUNK = [b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"\x00",
        b"\r", b"\xff\xfe", b"\xc3"]  # fmt: skip

LINE_ENDS = st.sampled_from(["\n", "\n", "\r\n", "\r"])

# Enough cases to keep the measured "no unhandled error in thousands of hostile files" true
# under test. Generated cases differ each run, except under CI (.ci/run sets CI=true), where a
# fixed sequence keeps a run repeatable; a failure prints the case that reproduces it.
# CIS_HOSTILE_EXAMPLES lowers the count for a second pass on another database (.ci/run).
HOSTILE_EXAMPLES = int(os.environ.get("CIS_HOSTILE_EXAMPLES") or 1000)
HOSTILE_SETTINGS = settings(
    max_examples=HOSTILE_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each case undoes its own writes (a savepoint)
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# Requests: text with the characters the shop refuses in a path, a query or a form (control
# characters, NUL first of all: PostgreSQL cannot hold it), and bodies of every type an endpoint
# that reads JSON may be sent.
CONTROL_CHARACTERS = [chr(code) for code in [*range(0x00, 0x20), 0x7F]]  # C0 and DEL
WHITESPACE_CONTROLS = {"\t", "\n", "\r"}  # whitespace: a query or a form may hold them
control_character = st.sampled_from(CONTROL_CHARACTERS)
NASTY_TEXT = [text for text in NASTY if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)]


@st.composite
def text_with_control(draw, *, whitespace: bool = True) -> str:
    """Text holding at least one control character (not only whitespace ones, unless
    `whitespace`), anywhere in it."""
    characters = (
        CONTROL_CHARACTERS if whitespace else sorted(set(CONTROL_CHARACTERS) - WHITESPACE_CONTROLS)
    )
    before = draw(st.text(max_size=8))
    after = draw(st.one_of(st.text(max_size=8), st.sampled_from(NASTY_TEXT)))
    return before + draw(st.sampled_from(characters)) + after


def holds_refused_control(text: str) -> bool:
    return any(ch in CONTROL_CHARACTERS and ch not in WHITESPACE_CONTROLS for ch in text)


form_fields = st.dictionaries(
    st.one_of(st.sampled_from(["sku", "q", "next", "username"]), st.text(max_size=8)),
    st.one_of(hostile_text, text_with_control()),
    min_size=1,
    max_size=3,
)


@st.composite
def form_body(draw) -> tuple[str, bytes]:
    """(Content-Type, body) of a form, as `curl -d` or `curl -F` sends one, or broken."""
    from urllib.parse import urlencode

    fields = draw(form_fields)
    kind = draw(st.sampled_from(["urlencoded", "multipart", "multipart-broken", "no-boundary"]))
    if kind == "urlencoded":
        encoded = urlencode(fields, encoding="utf-8", errors="surrogatepass").encode()
        return "application/x-www-form-urlencoded", encoded
    boundary = "----hostile" + draw(st.text("abc123", min_size=1, max_size=8))
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8", "surrogatepass")
    if kind == "multipart-broken":
        body = body[: draw(st.integers(0, len(body)))]
    if kind == "no-boundary":
        return "multipart/form-data", body
    return f"multipart/form-data; boundary={boundary}", body
