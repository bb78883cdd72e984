"""The printable certificate: an A4 page in Japanese and English, with the QR code.

Drawn with Pillow at 200 dpi; the PDF embeds that page (Pillow's PDF writer),
so PNG and PDF print the same. The QR is about 45 mm wide: a phone reads its
~0.45 mm modules from paper. The font is Noto Sans CJK (Debian fonts-noto-cjk,
installed by bin/setup).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .errors import CertError, Code
from .fhir import Dose, vaccine
from .qr import qr_image

DPI = 200
PAGE = (1654, 2339)  # A4 at 200 dpi
MARGIN = 120
FONT_DIRS = [Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto")]
QR_MM = 45


@dataclass(frozen=True)
class Printable:
    """What the paper certificate shows. ``repr`` hides it: it is personal data."""

    certificate_type: str  # "domestic" or "overseas"
    certificate_id: str = field(repr=False)
    issue_date: date = field(repr=False)
    name: str = field(repr=False)
    birth_date: date = field(repr=False)
    doses: tuple[Dose, ...] = field(repr=False)
    municipality_ja: str
    municipality_en: str
    mayor_ja: str  # the issuer as printed, e.g. 新居浜市長
    mayor_en: str  # e.g. Mayor of Niihama City
    qr_value: str = field(repr=False)
    romanized_name: str | None = field(default=None, repr=False)
    nationality: str | None = field(default=None, repr=False)
    passport_number: str | None = field(default=None, repr=False)


def printable_from_json(d: dict[str, Any]) -> Printable:
    """The printable fields as VRS sends them (JSON) → a ``Printable``."""
    try:
        return Printable(
            certificate_type=d["certificate_type"],
            certificate_id=d["certificate_id"],
            issue_date=date.fromisoformat(d["issue_date"]),
            name=d["name"],
            birth_date=date.fromisoformat(d["birth_date"]),
            doses=tuple(
                Dose(x["number"], date.fromisoformat(x["date"]), x["product"], x["lot"])
                for x in d["doses"]
            ),
            municipality_ja=d["municipality_ja"],
            municipality_en=d["municipality_en"],
            mayor_ja=d["mayor_ja"],
            mayor_en=d["mayor_en"],
            qr_value=d["qr_value"],
            romanized_name=d.get("romanized_name"),
            nationality=d.get("nationality"),
            passport_number=d.get("passport_number"),
        )
    except (KeyError, TypeError, ValueError):
        raise CertError(Code.BAD_INPUT, "the printable certificate fields are incomplete") from None


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "NotoSansCJK-Bold.ttc" if bold else "NotoSansCJK-Regular.ttc"
    for d in FONT_DIRS:
        if (d / name).exists():
            return ImageFont.truetype(str(d / name), size, index=0)  # index 0: JP
    raise CertError(Code.BAD_INPUT, f"Japanese font {name} not found: run bin/setup")


def _date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日 / {d.strftime('%d %b %Y')}"


def render_page(p: Printable) -> Image.Image:
    img = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(img)
    x0, x1 = MARGIN, PAGE[0] - MARGIN
    y = MARGIN

    overseas = p.certificate_type == "overseas"
    draw.text(
        (PAGE[0] // 2, y),
        "新型コロナウイルス感染症 予防接種証明書",
        font=font(56, True),
        anchor="mt",
    )
    y += 80
    draw.text(
        (PAGE[0] // 2, y), "Vaccination Certificate of COVID-19", font=font(44, True), anchor="mt"
    )
    y += 66
    kind = "海外用 / For use overseas" if overseas else "日本国内用 / For use in Japan"
    draw.text((PAGE[0] // 2, y), kind, font=font(34), anchor="mt")
    y += 80

    rows = [("氏名 / Name", p.name)]
    if overseas:
        rows.append(("ローマ字氏名 / Name in Roman letters", p.romanized_name or ""))
    rows.append(("生年月日 / Date of birth", _date(p.birth_date)))
    if overseas:
        rows.append(("国籍 / Nationality", p.nationality or ""))
        rows.append(("旅券番号 / Passport No.", p.passport_number or ""))
    label_w = 560
    for label, value in rows:
        draw.rectangle((x0, y, x1, y + 78), outline=0, width=2)
        draw.line((x0 + label_w, y, x0 + label_w, y + 78), fill=0, width=2)
        draw.text((x0 + 16, y + 39), label, font=font(28), anchor="lm")
        draw.text((x0 + label_w + 20, y + 39), value, font=font(36, True), anchor="lm")
        y += 78
    y += 50

    cols = [x0, x0 + 170, x0 + 560, x0 + 1110, x1]
    heads = [
        "接種回\nDose",
        "接種年月日\nDate",
        "ワクチン名 / 製造販売業者\nVaccine / Manufacturer",
        "ロット番号\nLot No.",
    ]
    draw.rectangle((x0, y, x1, y + 96), fill=230, outline=0, width=2)
    for i, head in enumerate(heads):
        draw.multiline_text(
            ((cols[i] + cols[i + 1]) // 2, y + 48), head, font=font(26), anchor="mm", align="center"
        )
    y += 96
    for dose in p.doses:
        v = vaccine(dose.product)
        cells = [
            f"{dose.number}回目 / #{dose.number}",
            f"{dose.date.year}年{dose.date.month}月{dose.date.day}日\n{dose.date.isoformat()}",
            f"{v.name_ja}（{v.manufacturer_ja}）\n{v.name_en} ({v.manufacturer_en})",
            dose.lot,
        ]
        draw.rectangle((x0, y, x1, y + 96), outline=0, width=2)
        for i, cell in enumerate(cells):
            draw.multiline_text(
                ((cols[i] + cols[i + 1]) // 2, y + 48),
                cell,
                font=font(26),
                anchor="mm",
                align="center",
            )
        y += 96
    for c in cols[1:-1]:
        draw.line((c, y - 96 * (len(p.doses) + 1), c, y), fill=0, width=2)
    y += 60

    qr = qr_image(p.qr_value, module_px=1)
    side = round(QR_MM / 25.4 * DPI)
    scale = max(1, side // qr.size[0])
    qr = qr.resize((qr.size[0] * scale, qr.size[1] * scale), Image.Resampling.NEAREST)
    img.paste(qr, (x0, y))
    tx = x0 + qr.size[0] + 50
    draw.text((tx, y + 10), "SMART Health Card", font=font(34, True))
    draw.text((tx, y + 60), "このQRコードで接種記録を確認できます。", font=font(28))
    draw.text((tx, y + 100), "Scan this QR code to verify the vaccination record.", font=font(26))
    draw.text((tx, y + 180), "証明書ID / Certificate ID", font=font(26))
    draw.text((tx, y + 216), p.certificate_id, font=font(34, True))
    draw.text((tx, y + 290), "発行年月日 / Date of issue", font=font(26))
    draw.text((tx, y + 326), _date(p.issue_date), font=font(34, True))
    y += max(qr.size[1], 380) + 60

    draw.text((x0, y), "上記のとおり予防接種を行ったことを証明します。", font=font(30))
    draw.text(
        (x0, y + 48),
        "This is to certify that the above person has received the vaccination(s) above.",
        font=font(26),
    )
    y += 140
    draw.text((x1, y), p.mayor_ja, font=font(40, True), anchor="rt")
    draw.text((x1, y + 60), p.mayor_en, font=font(30), anchor="rt")
    return img


def render_png(p: Printable) -> bytes:
    buf = io.BytesIO()
    render_page(p).save(buf, "PNG", dpi=(DPI, DPI), optimize=False, compress_level=1)
    return buf.getvalue()


def render_pdf(p: Printable) -> bytes:
    buf = io.BytesIO()
    render_page(p).save(buf, "PDF", resolution=DPI, title="Vaccination Certificate of COVID-19")
    return buf.getvalue()
