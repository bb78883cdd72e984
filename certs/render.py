"""The certificate on paper: a ``Printable`` (printable.py) laid out on one A4 page, with its QR codes.

The page carries what the real convenience-store certificate printed: name,
birth date (overseas: romanized name, nationality, passport number), each dose
(number, date, vaccine, manufacturer, lot), certificate ID, issue date and the
issuing mayor. It is laid out once in millimetres and painted as PNG (200 dpi)
or vector PDF (paint.py). QR modules are 0.5 mm (whole pixels at 200 dpi), so
the code is 45–55 mm wide: a phone reads it from paper at arm's length. The
overseas page also carries the ICAO VDS-NC seal (its JSON in a byte-mode QR,
about 60–66 mm) beside the SMART Health Card, each code labelled. Table rows
get shorter when many doses would push the codes off the page.
"""

from __future__ import annotations

from datetime import date
from io import BytesIO

from PIL import Image

from .errors import CertError, Code
from .fhir import vaccine
from .paint import A4, PX, Box, Line, Modules, Shape, Text, fit, text_width, to_pdf, to_png
from .printable import Printable
from .qr import modules, qr_symbol, symbol_modules

QR_MODULE = 4 / PX  # mm: four whole pixels at 200 dpi, 0.508 mm
LEFT, RIGHT = 18.0, A4[0] - 18.0
ROW = 11.0  # table row height, mm
LABEL_W = 54.0
TITLE = "Vaccination Certificate of COVID-19"


def _ja(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _en(d: date) -> str:
    return d.isoformat()  # unambiguous abroad, whatever the reader's date order


def _cell(
    x0: float, x1: float, y: float, ja: str, en: str, size: float = 9.5, row: float = ROW
) -> list[Shape]:
    """A two-line bilingual cell, centred: Japanese above, English below."""
    mid, w, k = (x0 + x1) / 2, x1 - x0 - 2.5, row / ROW
    return [
        Text(mid, y + 4.9 * k, ja, fit(ja, "gothic", size, w), align="c"),
        Text(mid, y + 9.0 * k, en, fit(en, "gothic", 7.5, w), align="c", gray=0.2),
    ]


def _field_rows(
    y: float, rows: list[tuple[str, str, str]], row: float = ROW
) -> tuple[list[Shape], float]:
    """A label | value table, one row a field; returns its shapes and where it ends."""
    top, width, k = y, RIGHT - LEFT - LABEL_W - 8, row / ROW
    out: list[Shape] = []
    for i, (label_ja, label_en, value) in enumerate(rows):
        out.append(Box(LEFT, y, LEFT + LABEL_W, y + row, fill=0.92))
        if i:
            out.append(Line(LEFT, y, RIGHT, y))
        out.append(Text(LEFT + 3, y + 4.9 * k, label_ja, 9.5))
        out.append(Text(LEFT + 3, y + 9.0 * k, label_en, 7.5, gray=0.2))
        out.append(Text(LEFT + LABEL_W + 4, y + 7.4 * k, value, fit(value, "gothic", 13, width)))
        y += row
    out.append(Line(LEFT + LABEL_W, top, LEFT + LABEL_W, y))
    out.append(Box(LEFT, top, RIGHT, y, line=0.4))
    return out, y


def _heading(y: float, ja: str, en: str) -> Text:
    return Text(LEFT, y, f"{ja}  {en}", 10.5, bold=True)


CODES_BOTTOM = A4[1] - 17  # the codes' labels end above the footer line
CODE_GAP = 6.0  # mm between the two codes: a scanner frames one at a time
MIN_ROW = 7.5  # mm: below this the two-line cells no longer read


def _codes(p: Printable) -> list[tuple[list[list[bool]], str]]:
    """The QR codes the page carries, each with its label: the SHC, and overseas the seal."""
    codes = [(modules(qr_symbol(p.qr_value)), "SMART Health Card")]
    if p.certificate_type == "overseas" and p.seal_value is not None:
        # the seal's JSON as bytes: byte mode, as the ICAO guidelines have it
        codes.append((symbol_modules(p.seal_value.encode("utf-8")), "ICAO VDS-NC"))
    return codes


def layout(p: Printable) -> list[Shape]:
    overseas = p.certificate_type == "overseas"
    centre = A4[0] / 2
    codes = _codes(p)
    side = max(len(grid) for grid, _ in codes) * QR_MODULE
    n_rows = (5 if overseas else 3) + 1 + len(p.doses)  # the person's rows, the dose table's
    # 97 mm of headings, gaps and text above the codes, 5.5 below them for the label
    row = min(ROW, (CODES_BOTTOM - 97 - side - 5.5) / n_rows)
    if row < MIN_ROW:
        raise CertError(Code.TOO_LARGE, f"{len(p.doses)} doses do not fit on one page")
    s: list[Shape] = [
        Box(10, 10, A4[0] - 10, A4[1] - 10, line=0.6),  # the frame of an official form
        Box(11.2, 11.2, A4[0] - 11.2, A4[1] - 11.2, line=0.2),
        Text(
            centre,
            30,
            "新型コロナウイルス感染症 予防接種証明書",
            20,
            "mincho",
            bold=True,
            align="c",
        ),
        Text(centre, 39, TITLE, 13.5, "mincho", bold=True, align="c"),
    ]
    kind = "海外用 / For use overseas" if overseas else "日本国内用 / For use in Japan"
    half = text_width(kind, "gothic", 10) / 2 + 5
    s += [
        Box(centre - half, 43, centre + half, 50, line=0.3),
        Text(centre, 48.2, kind, 10, align="c"),
    ]

    y = 60.0
    s.append(_heading(y, "接種者", "Vaccinated person"))
    rows = [("氏名", "Name", p.name)]
    if overseas:
        rows.append(("ローマ字氏名", "Name in Roman letters", p.romanized_name or ""))
    rows.append(("生年月日", "Date of birth", f"{_ja(p.birth_date)}  ({_en(p.birth_date)})"))
    if overseas:
        rows.append(("国籍", "Nationality", p.nationality or ""))
        rows.append(("旅券番号", "Passport No.", p.passport_number or ""))
    shapes, y = _field_rows(y + 3, rows, row)
    s += shapes

    y += 11
    s.append(_heading(y, "接種記録", "Vaccination record"))
    y += 3
    cols = [LEFT, LEFT + 20, LEFT + 54, LEFT + 100, LEFT + 142, RIGHT]
    heads = [
        ("接種回", "Dose"),
        ("接種年月日", "Date"),
        ("ワクチン名", "Vaccine"),
        ("製造販売業者", "Manufacturer"),
        ("ロット番号", "Lot No."),
    ]
    top = y
    s.append(Box(LEFT, y, RIGHT, y + row, fill=0.92))
    for i, (ja, en) in enumerate(heads):
        s += _cell(cols[i], cols[i + 1], y, ja, en, 9, row)
    for dose in p.doses:
        y += row
        s.append(Line(LEFT, y, RIGHT, y))
        v = vaccine(dose.product)
        s += _cell(cols[0], cols[1], y, f"{dose.number}回目", f"Dose {dose.number}", row=row)
        s += _cell(cols[1], cols[2], y, _ja(dose.date), _en(dose.date), row=row)
        s += _cell(cols[2], cols[3], y, v.name_ja, v.name_en, row=row)
        s += _cell(cols[3], cols[4], y, v.manufacturer_ja, v.manufacturer_en, row=row)
        lot = fit(dose.lot, "gothic", 11, cols[5] - cols[4] - 3)
        s.append(Text((cols[4] + cols[5]) / 2, y + 7.2 * row / ROW, dose.lot, lot, align="c"))
    y += row
    s += [Line(c, top, c, y) for c in cols[1:-1]]
    s.append(Box(LEFT, top, RIGHT, y, line=0.4))

    s += [
        Text(LEFT, y + 8, "上記のとおり予防接種を行ったことを証明します。", 11, "mincho"),
        Text(
            LEFT,
            y + 13.5,
            "This is to certify that the person above has received the vaccinations above.",
            9,
            "mincho",
        ),
    ]

    # the codes on the left (their quiet zones left blank), the certificate's own data beside
    qx, qy = LEFT, y + 20
    for grid, label in codes:
        w = len(grid) * QR_MODULE
        s.append(Modules(qx, qy, QR_MODULE, tuple(tuple(r) for r in grid)))
        s.append(Text(qx + w / 2, qy + w + 4.5, label, 8, align="c", gray=0.2))
        qx += w + CODE_GAP
    tx = qx - CODE_GAP + 4 * QR_MODULE + 4
    entries = [
        ("証明書ID", "Certificate ID", p.certificate_id),
        ("証明書発行年月日", "Date of issue", f"{_ja(p.issue_date)}  ({_en(p.issue_date)})"),
    ]
    for i, (ja, en, value) in enumerate(entries):
        ry = qy + 4 + i * 14
        s.append(Text(tx, ry, f"{ja} / {en}", 8.5, gray=0.2))
        s.append(Text(tx, ry + 6.5, value, fit(value, "gothic", 12.5, RIGHT - tx), bold=True))
    ry = max(qy + 36, qy + side - 13)  # level with the QR's foot
    s += [
        Text(tx, ry, "証明書発行者 / Issuer", 8.5, gray=0.2),
        Line(tx, ry + 10.5, RIGHT, ry + 10.5, 0.2),
        Text(tx, ry + 8.5, p.mayor_ja, fit(p.mayor_ja, "mincho", 17, RIGHT - tx), "mincho", True),
        Text(RIGHT, ry + 15, p.mayor_en, 10, "mincho", align="r"),
        Text(
            centre,
            A4[1] - 14.5,
            "kiosk-sim（シミュレーター）で発行 / Issued by kiosk-sim, a simulator",
            6.5,
            align="c",
            gray=0.45,
        ),
    ]
    return s


def render_page(p: Printable) -> Image.Image:
    return Image.open(BytesIO(render_png(p)))


def render_png(p: Printable) -> bytes:
    return to_png(layout(p))


def render_pdf(p: Printable) -> bytes:
    return to_pdf(layout(p), TITLE)
