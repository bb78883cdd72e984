"""Painting one page of shapes, laid out in millimetres, as a PNG or a vector PDF.

The layout (render.py) is written once; Pillow paints it as pixels and
ReportLab as a PDF with the font embedded (a subset) and the QR as vector
squares, so both outputs show the same page. The font is IPAex (Debian
fonts-ipaexfont): ReportLab embeds TrueType outlines only, which rules out
Noto CJK (CFF). fpdf2 embeds CFF too, but took ~600 ms a page here against
~40 ms for ReportLab. IPAex has no bold face: bold is drawn by stroking the
outline, the same in both outputs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .errors import CertError, Code

A4 = (210.0, 297.0)  # mm
DPI = 200
PX = DPI / 25.4  # pixels per mm
PT = 72 / 25.4  # points per mm
BOLD = 0.03  # stroke radius for bold, in em

FONT_FILES = {
    "gothic": Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    "mincho": Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
}
PDF_FONTS = {"gothic": "IPAexGothic", "mincho": "IPAexMincho"}


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float  # points
    face: str = "gothic"
    bold: bool = False
    align: str = "l"  # l, c or r: where x is on the line
    gray: float = 0.0


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    fill: float | None = None  # gray level, None: not filled
    line: float = 0.0  # outline width in mm, 0: none


@dataclass(frozen=True)
class Line:
    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.25


@dataclass(frozen=True)
class Modules:
    """A QR symbol: ``rows`` of dark (True) modules, each ``module`` mm wide."""

    x: float
    y: float
    module: float
    rows: tuple[tuple[bool, ...], ...]


Shape = Text | Box | Line | Modules


def font_file(face: str) -> Path:
    path = FONT_FILES[face]
    if not path.exists():
        raise CertError(Code.NO_FONT, f"Japanese font {path.name} missing: install fonts-ipaexfont")
    return path


@lru_cache(maxsize=64)
def pil_font(face: str, px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file(face)), px)


def text_width(text: str, face: str, size: float) -> float:
    """Width in mm; measured unhinted (a 1000 px em), as both painters place it."""
    return pil_font(face, 1000).getlength(text) / 1000 * size / PT


def fit(text: str, face: str, size: float, width: float, smallest: float = 6.0) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width`` mm."""
    w = text_width(text, face, size)
    return size if w <= width else max(smallest, size * width / w)


def _px(v: float) -> int:
    return round(v * PX)


def to_png(shapes: list[Shape]) -> bytes:
    img = Image.new("L", (_px(A4[0]), _px(A4[1])), 255)
    draw = ImageDraw.Draw(img)
    for s in shapes:
        if isinstance(s, Text):
            px = s.size / PT * PX
            fill = round(s.gray * 255)
            draw.text(
                (s.x * PX, s.y * PX),
                s.text,
                font=pil_font(s.face, round(px * 4) / 4),  # quarter pixels: a bounded cache
                anchor={"l": "ls", "c": "ms", "r": "rs"}[s.align],
                fill=fill,
                stroke_width=px * BOLD if s.bold else 0,
                stroke_fill=fill,
            )
        elif isinstance(s, Box):
            box_fill = None if s.fill is None else round(s.fill * 255)
            width = max(1, _px(s.line)) if s.line else 0
            draw.rectangle(
                (_px(s.x0), _px(s.y0), _px(s.x1), _px(s.y1)),
                fill=box_fill,
                outline=0 if width else None,
                width=width,
            )
        elif isinstance(s, Line):
            draw.line((_px(s.x0), _px(s.y0), _px(s.x1), _px(s.y1)), fill=0, width=_px(s.width))
        else:
            n, k = len(s.rows), _px(s.module)  # whole pixels a module: sharp edges
            qr = Image.frombytes("L", (n, n), bytes(0 if d else 255 for r in s.rows for d in r))
            img.paste(qr.resize((n * k, n * k), Image.Resampling.NEAREST), (_px(s.x), _px(s.y)))
    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=(DPI, DPI), compress_level=1)  # speed over a few kB
    return buf.getvalue()


@lru_cache(maxsize=1)
def _register_pdf_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for face, name in PDF_FONTS.items():
        pdfmetrics.registerFont(TTFont(name, str(font_file(face))))


def to_pdf(shapes: list[Shape], title: str) -> bytes:
    from reportlab.pdfgen import canvas  # imported here: the kiosk's PNG path never needs it

    _register_pdf_fonts()
    height = A4[1] * PT
    buf = io.BytesIO()
    # invariant: no creation time or random id in the file, so a page is reproducible
    c = canvas.Canvas(buf, pagesize=(A4[0] * PT, height), invariant=True, pageCompression=1)
    c.setTitle(title)
    for s in shapes:
        if isinstance(s, Text):
            name = PDF_FONTS[s.face]
            w = c.stringWidth(s.text, name, s.size)
            x = s.x * PT - {"l": 0, "c": w / 2, "r": w}[s.align]
            # the render mode is graphics state and outlives the text object: save/restore
            c.saveState()
            t = c.beginText(x, height - s.y * PT)
            t.setFont(name, s.size)
            if s.bold:  # fill and stroke the outline, as Pillow's stroke does
                t.setTextRenderMode(2)
                c.setLineWidth(2 * s.size * BOLD)
            c.setFillGray(s.gray)
            c.setStrokeGray(s.gray)
            t.textOut(s.text)
            c.drawText(t)
            c.restoreState()
        elif isinstance(s, Box):
            c.setLineWidth(s.line * PT)
            c.setStrokeGray(0)
            if s.fill is not None:
                c.setFillGray(s.fill)
            c.rect(
                s.x0 * PT,
                height - s.y1 * PT,
                (s.x1 - s.x0) * PT,
                (s.y1 - s.y0) * PT,
                stroke=1 if s.line else 0,
                fill=0 if s.fill is None else 1,
            )
        elif isinstance(s, Line):
            c.setLineWidth(s.width * PT)
            c.setStrokeGray(0)
            c.line(s.x0 * PT, height - s.y0 * PT, s.x1 * PT, height - s.y1 * PT)
        else:
            # one path for the whole symbol: no hairline seams between modules in viewers
            path, m = c.beginPath(), s.module * PT
            for r, row in enumerate(s.rows):
                start = None
                for col, dark in enumerate((*row, False)):
                    if dark and start is None:
                        start = col
                    elif not dark and start is not None:
                        y = height - s.y * PT - (r + 1) * m
                        path.rect(s.x * PT + start * m, y, (col - start) * m, m)
                        start = None
            c.setFillGray(0)
            c.drawPath(path, stroke=0, fill=1)
    c.showPage()
    c.save()
    return buf.getvalue()
