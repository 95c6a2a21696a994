"""What the readers and writers of a local ``.xlsx`` share about its package (Office Open XML):
the XML namespaces, where each tab's worksheet part is, which tab a title names, whether the
file counts dates from 1904, a package with some members replaced, a part's text in chunks,
and text as a cell can hold it.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from xml.etree import ElementTree

from sheets_escalation.core import schema
from sheets_escalation.core.plaintext import without_controls

REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
STRICT = b"http://purl.oclc.org/ooxml/spreadsheetml/main"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

# A cell's type attribute, with the space before it.
CELL_TYPE = re.compile(rb'\s*\bt="(?P<type>[^"]*)"')

_LOCAL_HEADER = struct.Struct("<4s22x2H")  # zip's local file header: signature, name/extra lengths
# Compressed bytes inflated at once by part_chunks (~9 MB of worksheet XML each).
_INFLATE_STEP = 1 << 20

_OOXML_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")
# Characters XML 1.0 cannot hold that are not control characters (see plaintext).
_NOT_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")


def resolve(wanted: str, titles: Sequence[str]) -> str | None:
    """Given a tab title, return the workbook's title for it: exact, else ignoring case and
    spaces when that matches a single tab; None if absent."""
    if wanted in titles:
        return wanted
    key = schema.normalize_header(wanted)
    matches = [t for t in titles if schema.normalize_header(t) == key]
    return matches[0] if len(matches) == 1 else None


def date1904(workbook_xml: bytes) -> bool:
    """Given workbook.xml, return whether the workbook counts dates from 1904 (old Mac Excel; serial 0 = 1904-01-01)."""
    root = ElementTree.fromstring(workbook_xml)  # noqa: S314 - the user's own file
    properties = root.find(f"{MAIN}workbookPr")
    return properties is not None and properties.get("date1904", "0").lower() in ("1", "true")


def with_parts(data: bytes, replaced: dict[str, bytes]) -> bytes:
    """Given a package's bytes and new contents for some members, return the new package."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, replaced.get(info.filename) or source.read(info.filename))
    return out.getvalue()


def relationships(archive: zipfile.ZipFile, names: frozenset[str], part: str) -> dict[str, tuple[str, str]]:
    """Given a part, return its relationships: id -> (type suffix, target part path)."""
    folder, file = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", file + ".rels")
    if rels not in names:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for element in ElementTree.fromstring(archive.read(rels)).iter(REL):  # noqa: S314 - the user's own file
        target = element.get("Target", "")
        if element.get("TargetMode") == "External":
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found[element.get("Id", "")] = (element.get("Type", "").rsplit("/", 1)[-1], path)
    return found


def part_chunks(data: bytes, archive: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """Given a package's bytes, the package opened on them and a member name, yield the
    member's content in chunks, so a large worksheet is never in memory whole. A deflated
    member is inflated straight from its compressed bytes (without zipfile's checksum,
    which the reader that parses the part checks anyway); any other goes through zipfile."""
    info = archive.getinfo(part)
    start = -1
    if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x01:
        signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, info.header_offset)
        if signature == b"PK\x03\x04":
            start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if start < 0 or start + info.compress_size > len(data):
        with archive.open(part) as stream:
            while chunk := stream.read(_INFLATE_STEP * 8):
                yield chunk
        return
    payload = memoryview(data)[start:start + info.compress_size]
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    for offset in range(0, len(payload), _INFLATE_STEP):
        yield inflater.decompress(payload[offset:offset + _INFLATE_STEP])
    yield inflater.flush()


def sheet_parts(archive: zipfile.ZipFile, names: frozenset[str]) -> dict[str, str]:
    """Given an open package and its member names, return tab title -> the zip part holding
    that worksheet."""
    workbook_rels = relationships(archive, names, "xl/workbook.xml")
    root = ElementTree.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314 - the user's own file
    parts: dict[str, str] = {}
    for sheet in root.iter(f"{MAIN}sheet"):
        relation = workbook_rels.get(sheet.get(R_ID, ""))
        if relation is not None and relation[1] in names:
            parts[sheet.get("name", "")] = relation[1]
    return parts


def storable_text(text: str) -> str:
    """Given text, return what to store so that reading the cell gives the same text back
    (so a rerun finds nothing to change): without control characters (which a cell cannot
    hold, or a terminal would act on), with line ends as the file format keeps them (LF; XML
    turns CR LF into LF), and with a literal ``_xHHHH_`` escaped, since readers decode that
    as a character."""
    text = _NOT_XML.sub("", without_controls(text))
    if "_x" in text:
        text = _OOXML_ESCAPE.sub(r"_x005F\g<0>", text)
    return text
