"""What a picture file in the media folder may be: a PNG, JPEG, WebP or GIF whose bytes are
one whole picture and nothing else; an SVG drawing is drawn into a PNG, never stored as SVG.

The media folder is served from the shop's own origin, so a file there that a browser would
take for a page (HTML, an SVG with script) could run script as the shop. The format is read
from the bytes, never from the name.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import xml.etree.ElementTree as ElementTree

import resvg_py
from PIL import Image

PICTURE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
SVG_SUFFIX = ".svg"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
SVG_RASTER_BOX = 800  # an SVG drawing is drawn to fit this square, in pixels
SVG_MAX_BYTES = 4 * 1024 * 1024
PICTURE_MAX_PIXELS = 50_000_000  # a bigger "picture" is a decompression bomb, not a product
# Pictures that an SVG may embed: data: URLs of these types only. A file path or URL would
# have the renderer read the server's own files into the picture.
EMBEDDABLE = tuple(f"data:{kind};" for kind in PICTURE_TYPES.values())


class PictureProblem(Exception):
    """Why a file is not a picture the shop serves."""


def picture_type_sniff(head: bytes) -> str | None:
    """The content type of a PNG, JPEG, WebP or GIF from its first 12 bytes, else None."""
    kind = _raster_kind(head)
    return PICTURE_TYPES[kind] if kind else None


def picture_file_type(path: str | os.PathLike) -> str | None:
    """The content type of the picture in a file, by its first bytes; None for anything else."""
    try:
        with open(path, "rb") as handle:
            return picture_type_sniff(handle.read(12))
    except OSError:
        return None


def picture_kind(path: str | os.PathLike) -> str:
    """'PNG', 'JPEG', 'GIF' or 'WEBP' for a whole picture of that format and nothing more,
    'SVG' for what may be an SVG drawing (`svg_rasterize` checks it); else PictureProblem."""
    with open(path, "rb") as handle:
        head = handle.read(512)
        kind = _raster_kind(head)
        if kind is None:
            if _looks_like_svg(head):
                return "SVG"
            raise PictureProblem(f"is not a PNG, JPEG, WebP or GIF picture{_looks_like(head)}")
        handle.seek(0)
        data = handle.read()
    _decode_check(kind, data)
    end = _END_OF[kind](data)
    if end < len(data):
        raise PictureProblem(
            f"has {len(data) - end} bytes after the end of its {kind} picture "
            "(a picture with something else appended)"
        )
    return kind


def svg_rasterize(path: str | os.PathLike) -> bytes:
    """The SVG drawing in `path`, drawn into a PNG that fits SVG_RASTER_BOX: no script, no
    link, no reference to another file survives; PictureProblem if it is no SVG drawing."""
    if os.path.getsize(path) > SVG_MAX_BYTES:
        raise PictureProblem(f"is an SVG drawing larger than {SVG_MAX_BYTES // 1024 // 1024} MB")
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, UnicodeError) as exc:
        raise PictureProblem(f"is not a well-formed SVG drawing: {exc}") from exc
    if root.tag != f"{{{SVG_NAMESPACE}}}svg":
        raise PictureProblem(
            f'is not an SVG drawing (its root element is not <svg xmlns="{SVG_NAMESPACE}">)'
        )
    _external_references_drop(root)
    drawing = ElementTree.tostring(root, encoding="unicode")
    try:
        png = resvg_py.svg_to_bytes(svg_string=drawing, width=SVG_RASTER_BOX, height=SVG_RASTER_BOX)
    except ValueError as exc:
        raise PictureProblem(f"is an SVG drawing that cannot be drawn: {exc}") from exc
    if not png:
        raise PictureProblem("is an SVG drawing with no size (give it a width and height)")
    return png


def _raster_kind(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<html" not in text


def _looks_like(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<script", b"<head", b"<body")):
        return " (it is an HTML page)"
    if not head:
        return " (it is empty)"
    return ""


def _decode_check(kind: str, data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                if image.width * image.height > PICTURE_MAX_PIXELS:
                    raise PictureProblem(
                        f"is a {kind} picture of {image.width}x{image.height} pixels, more than "
                        f"{PICTURE_MAX_PIXELS:,}"
                    )
                image.load()
    except PictureProblem:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise PictureProblem(f"is a {kind} picture too large to decode: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise PictureProblem(f"is not a whole {kind} picture: {exc}") from exc


def _png_end(data: bytes) -> int:
    """Where the PNG's IEND chunk ends."""
    position = 8
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunk = data[position + 4 : position + 8]
        position += 12 + length
        if chunk == b"IEND":
            return position
    raise PictureProblem("is not a whole PNG picture (no IEND chunk)")


def _jpeg_end(data: bytes) -> int:
    """Where the JPEG's end-of-image marker ends: segments by their lengths, entropy-coded
    data up to the next marker that is neither a stuffed 0xFF nor a restart."""
    position = 2
    while position + 2 <= len(data):
        if data[position] != 0xFF:
            raise PictureProblem(f"is not a whole JPEG picture (no marker at byte {position})")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:
            return position + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            position += 2
            continue
        if position + 4 > len(data):
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
        if marker == 0xDA:  # start of scan: skip its data to the next real marker
            while position + 1 < len(data):
                if data[position] == 0xFF and data[position + 1] not in (
                    0x00,
                    *range(0xD0, 0xD8),
                ):
                    break
                position += 1
    raise PictureProblem("is not a whole JPEG picture (no end-of-image marker)")


def _gif_end(data: bytes) -> int:
    """Where the GIF's trailer byte ends: the blocks walked by their sizes."""
    flags = data[10]
    position = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    while position < len(data):
        block = data[position]
        if block == 0x3B:
            return position + 1
        if block == 0x21:  # extension: label, then sub-blocks
            position = _gif_sub_blocks_end(data, position + 2)
        elif block == 0x2C:  # image: descriptor, local colour table, code size, sub-blocks
            flags = data[position + 9] if position + 9 < len(data) else 0
            position += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
            position = _gif_sub_blocks_end(data, position + 1)
        else:
            break
    raise PictureProblem("is not a whole GIF picture (no trailer)")


def _gif_sub_blocks_end(data: bytes, position: int) -> int:
    while position < len(data) and data[position]:
        position += 1 + data[position]
    return position + 1


def _webp_end(data: bytes) -> int:
    (size,) = struct.unpack("<I", data[4:8])
    return 8 + size + (size & 1)


_END_OF = {"PNG": _png_end, "JPEG": _jpeg_end, "GIF": _gif_end, "WEBP": _webp_end}


def _external_references_drop(root: ElementTree.Element) -> None:
    """Remove scripts, foreign content and images that are not embedded pictures: the
    renderer runs no script, but it would read a file path in an <image> from the server's
    disk into the picture."""
    hrefs = ("href", f"{{{XLINK_NAMESPACE}}}href")
    for parent in list(root.iter()):
        for child in list(parent):
            if not isinstance(child.tag, str):
                continue
            name = child.tag.rsplit("}", 1)[-1]
            href = next((child.get(key) for key in hrefs if child.get(key) is not None), "")
            if name in ("script", "foreignObject") or (
                name in ("image", "feImage") and not href.strip().startswith(EMBEDDABLE)
            ):
                parent.remove(child)


def picture_media_name(name: str) -> str:
    """The name a picture has in the media folder: an SVG drawing's name with ".png" added,
    as it is kept drawn into a PNG."""
    return name + ".png" if name.lower().endswith(SVG_SUFFIX) else name
