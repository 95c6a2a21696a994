"""The workbook's cell formats (``xl/styles.xml``) as the package patch needs them: which
cell format is a style at all, which number format it shows, and a new cell format showing a
date, appended to the style sheet only when a written date needs one.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_REVERSE

from sheets_escalation.adapters.xlsx import ooxml, patch_xml

_XF = re.compile(rb"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.DOTALL)
_NUMFMT_ID = re.compile(rb"""\snumFmtId\s*=\s*["'][0-9]*["']""")
_APPLY_NUMFMT = re.compile(rb"""\sapplyNumberFormat\s*=\s*["'][^"']*["']""")
_TRUE = ("1", "true")


class Styles:
    """The workbook's cell formats, read once; new date formats are appended to it."""

    def __init__(self, xml: bytes | None) -> None:
        if xml is None or b"<cellXfs" not in xml or b"</cellXfs>" not in xml:
            raise patch_xml.Unsupported("styles without cell formats")
        self.xml = xml
        root = ElementTree.fromstring(xml)  # noqa: S314 - the user's own file
        # Only <numFmts> defines cell formats; the <numFmt> inside <dxfs> belong to colour
        # rules and table styles, and may reuse an id with another code.
        defined = root.find(f"{ooxml.MAIN}numFmts")
        self.formats = {int(fmt.get("numFmtId", "0")): fmt.get("formatCode", "")
                        for fmt in (defined.iter(f"{ooxml.MAIN}numFmt") if defined is not None else ())}
        self.taken_ids = {int(fmt.get("numFmtId", "0")) for fmt in root.iter(f"{ooxml.MAIN}numFmt")}
        cell_xfs = root.find(f"{ooxml.MAIN}cellXfs")
        if cell_xfs is None:
            raise patch_xml.Unsupported("styles without cell formats")
        xfs = list(cell_xfs.iter(f"{ooxml.MAIN}xf"))
        start = xml.index(b"<cellXfs")
        end = xml.index(b"</cellXfs>")
        self.raw = [m.group(0) for m in _XF.finditer(xml, start, end)]
        if len(self.raw) != len(xfs):
            raise patch_xml.Unsupported("cell formats not understood")
        self.number_formats = [int(xf.get("numFmtId", "0")) for xf in xfs]
        self.zero = [_is_zero_xf(xf, self.formats) for xf in xfs]
        self.added_formats: dict[str, int] = {}
        self.added_xfs: list[bytes] = []
        self.cache: dict[tuple[int | None, str], int] = {}

    @property
    def changed(self) -> bool:
        return bool(self.added_xfs)

    def has_style(self, index: int | None) -> bool:
        """As openpyxl's ``Cell.has_style``: a format other than the all-default one."""
        if index is None:
            return False
        if index >= len(self.zero):
            if index - len(self.zero) >= len(self.added_xfs):
                raise patch_xml.Unsupported(f"cell format {index} is not in styles.xml")
            return True
        return not self.zero[index]

    def format_code(self, index: int | None) -> str:
        if index is None:
            return "General"
        if index >= len(self.number_formats):
            raise patch_xml.Unsupported(f"cell format {index} is not in styles.xml")
        number_format = self.number_formats[index]
        return self.formats.get(number_format) or BUILTIN_FORMATS.get(number_format) or "General"

    def with_format(self, index: int | None, code: str) -> int:
        """Return the index of a cell format like ``index`` (None: the default) but showing
        numbers as ``code``, adding the format (and its number format) once."""
        key = (index if self.has_style(index) else None, code)
        if key not in self.cache:
            number_format = self._number_format(code)
            base = ((self.raw + self.added_xfs)[key[0]] if key[0] is not None
                    else b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>')
            self.added_xfs.append(_with_number_format(base, number_format))
            self.cache[key] = len(self.raw) + len(self.added_xfs) - 1
            self.number_formats.append(number_format)
        return self.cache[key]

    def _number_format(self, code: str) -> int:
        if code in BUILTIN_FORMATS_REVERSE:
            return int(BUILTIN_FORMATS_REVERSE[code])
        for number, existing in self.formats.items():
            if existing == code:
                return number
        number = max([163, *self.formats, *self.taken_ids]) + 1
        self.formats[number] = code
        self.taken_ids.add(number)
        self.added_formats[code] = number
        return number

    def patched(self) -> bytes:
        """Return styles.xml with the added formats, counts updated."""
        xml = self.xml
        if self.added_formats:
            entries = b"".join(b'<numFmt numFmtId="%d" formatCode="%s"/>' % (number, patch_xml.escape(code, True))
                               for code, number in self.added_formats.items())
            block = b'<numFmts count="%d">%s</numFmts>' % (len(self.added_formats), entries)
            empty = re.search(rb"<numFmts\b[^>]*/>", xml)
            if b"</numFmts>" in xml:
                xml = patch_xml.append_into(xml, b"numFmts", entries, len(self.added_formats))
            elif empty is not None:
                xml = xml[:empty.start()] + block + xml[empty.end():]
            else:
                # numFmts, when present, is the style sheet's first element.
                opening = re.search(rb"<styleSheet\b[^>]*>", xml)
                if opening is None or re.search(rb"<numFmts\b", xml):
                    raise patch_xml.Unsupported("number formats not understood")
                xml = xml[:opening.end()] + block + xml[opening.end():]
        return patch_xml.append_into(xml, b"cellXfs", b"".join(self.added_xfs), len(self.added_xfs))


def _is_zero_xf(xf: ElementTree.Element, formats: dict[int, str]) -> bool:
    """Whether openpyxl reads this cell format as no style at all (all ids 0, default
    alignment and protection)."""
    for name in ("fontId", "fillId", "borderId", "xfId"):
        if xf.get(name, "0") != "0":
            return False
    number_format = int(xf.get("numFmtId", "0"))
    if number_format != 0 and formats.get(number_format) != "General":
        return False
    if xf.get("pivotButton", "0").lower() in _TRUE or xf.get("quotePrefix", "0").lower() in _TRUE:
        return False
    alignment = xf.find(f"{ooxml.MAIN}alignment")
    if alignment is not None and any(value not in ("0", "") for value in alignment.attrib.values()):
        return False
    protection = xf.find(f"{ooxml.MAIN}protection")
    return protection is None or (protection.get("locked", "1").lower() in _TRUE
                                  and protection.get("hidden", "0").lower() not in _TRUE)


def _with_number_format(xf: bytes, number_format: int) -> bytes:
    xf = _APPLY_NUMFMT.sub(b"", _NUMFMT_ID.sub(b"", xf, count=1), count=1)
    return b'<xf numFmtId="%d" applyNumberFormat="1"' % number_format + xf[len(b"<xf"):]
