"""What a product's `image` may be: empty, an http(s) URL, or a path under the media folder.

The value comes from outside (a catalog file, the admin) and ends up in an `<img src>`, so it is
checked strictly: a proper URL parse, and only the characters a URL or a plain file name needs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# RFC 3986's characters, less the single quote (legal, but it ends a quoted attribute or a CSS
# url('...') in careless markup, and no image URL needs it unencoded).
URL_CHARACTER = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]")
PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A media path is a file name: letters and digits of any script, and - _ . ~ + , = @ ( ) !
# No '%', '?', '#' or ':': the file on disk and the URL that serves it would disagree.
PATH_CHARACTER = re.compile(r"[\w\-.~+,=@()!/]")
URL_CHARACTERS = re.compile(URL_CHARACTER.pattern + "*")
PATH_CHARACTERS = re.compile(PATH_CHARACTER.pattern + "*")
# C0, DEL and C1 controls, the Unicode format characters that reorder or hide text
# (bidirectional overrides, zero-width joiners, the BOM) and lone surrogates.
CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
CONTROL_OR_SPACE = re.compile(f"{CONTROL.pattern}|\\s")
_url_validator = URLValidator(schemes=["http", "https"])
PICTURE_NAME_ENDINGS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


def image_problem(image: str) -> str | None:
    """Why `image` is not an http(s) URL or a safe relative media path, or None if it is."""
    if not image:
        return None
    shown = repr(image if len(image) <= 80 else image[:80] + "...")
    odd = CONTROL_OR_SPACE.search(image)
    if odd is not None:
        if odd.group().isspace() and not _is_control(odd.group()):
            return f"image {shown} contains whitespace ({_code(odd.group())}): percent-encode it"
        return f"image {shown} contains a control character ({_code(odd.group())})"
    if SCHEME.match(image):
        scheme = image.split(":", 1)[0].lower()
        if scheme not in ("http", "https") or not image[len(scheme) + 1 :].startswith("//"):
            return f"image {shown} is neither an http(s) URL nor a relative path"
        return _url_problem(image, shown)
    if image.startswith(("/", "\\")):
        return f"image {shown} must be a relative path under the media folder, not absolute"
    return _path_problem(image, shown)


def image_validate(value: str) -> None:
    """The model field's validator: the same rules for the admin as for a catalog load."""
    problem = image_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_image")


def image_is_url(image: str) -> bool:
    """Whether a valid `image` is an http(s) URL (else it is a media path, or empty)."""
    return image[:8].lower().startswith(("http://", "https://"))


def _url_problem(image: str, shown: str) -> str | None:
    bad = None if URL_CHARACTERS.fullmatch(image) else _first_bad(image, URL_CHARACTER)
    if bad is not None:
        if not bad.isascii():
            return (
                f"image {shown} contains {bad!r}, which is not ASCII: percent-encode it "
                "(and write an international host name in its xn-- form)"
            )
        return f"image {shown} contains {bad!r}, which a URL may not contain unencoded"
    if PERCENT_ESCAPE.search(image):
        return f"image {shown} has a '%' that is not followed by two hex digits"
    try:
        parts = urlsplit(image)
    except ValueError:  # a bracketed host that is not an IPv6 address
        return f"image {shown} is not a valid http(s) URL (check its host name)"
    if "@" in parts.netloc:
        return f"image {shown} must not carry a user name or password"
    try:
        port = parts.port
    except ValueError:
        return f"image {shown} has an invalid port"
    if port == 0:
        return f"image {shown} has an invalid port"
    try:
        _url_validator(image)
    except ValidationError:
        return f"image {shown} is not a valid http(s) URL (check its host name)"
    return None


def _path_problem(image: str, shown: str) -> str | None:
    segments = image.split("/")
    if ".." in segments:
        return f"image {shown} must not leave the media folder ('..')"
    if "" in segments or "." in segments:
        return f"image {shown} has an empty or '.' path segment: write a file's plain path"
    if any(len(segment.encode("utf-8", "surrogatepass")) > 255 for segment in segments):
        return f"image {shown} has a file or folder name longer than 255 bytes"
    bad = None if PATH_CHARACTERS.fullmatch(image) else _first_bad(image, PATH_CHARACTER)
    if bad is not None:
        return (
            f"image {shown} contains {bad!r}: a media path may hold letters, digits, '/' "
            "and - _ . ~ + , = @ ( ) ! only"
        )
    if not image.lower().endswith(PICTURE_NAME_ENDINGS):
        # Whatever serves the media folder may take its content type from the name.
        endings = ", ".join(PICTURE_NAME_ENDINGS[:-1]) + " or " + PICTURE_NAME_ENDINGS[-1]
        return f"image {shown} is not named as a picture: its name must end in {endings}"
    return None


def _first_bad(text: str, allowed: re.Pattern) -> str | None:
    return next((character for character in text if not allowed.fullmatch(character)), None)


def _is_control(character: str) -> bool:
    return CONTROL.fullmatch(character) is not None


def _code(character: str) -> str:
    return f"U+{ord(character):04X}"
