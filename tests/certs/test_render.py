"""The printed certificate: its items in both languages, and its QR read back from paper files."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from pyzbar import pyzbar

from certs import (
    CertError,
    Code,
    IssuerKey,
    KeySets,
    Printable,
    build_bundle,
    from_numeric,
    paint,
    render_pdf,
    render_png,
    sample,
    sign,
    to_numeric,
    verify,
)

needs_poppler = pytest.mark.skipif(
    not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm, pdftotext) not installed"
)


def page(key: IssuerKey, overseas: bool, n: int = 5) -> tuple[str, Printable]:
    bundle = build_bundle(sample.person(overseas), sample.doses(n), overseas=overseas)
    jws = sign(key, sample.ISS, bundle)
    return jws, sample.printable(to_numeric(jws), "38206-000042", date(2026, 11, 27), overseas, n)


def zbar_read(image: Image.Image) -> str:
    """zbar: an independent decoder (the package's verify reads with zxing-cpp)."""
    (found,) = [s for s in pyzbar.decode(image) if s.type == "QRCODE"]
    return from_numeric(found.data.decode())


@needs_poppler
@pytest.mark.parametrize("overseas", [False, True])
def test_printed_qr_reads_back_with_an_independent_decoder(
    issuer_key: IssuerKey, trusted: KeySets, tmp_path: Path, overseas: bool
) -> None:
    jws, p = page(issuer_key, overseas)
    png = Image.open(io.BytesIO(render_png(p)))
    assert png.size == (1654, 2339) and png.info["dpi"] == pytest.approx((200, 200), abs=0.01)  # A4
    assert zbar_read(png) == jws
    (tmp_path / "c.pdf").write_bytes(render_pdf(p))
    # 150 dpi: about what a phone camera resolves from an A4 sheet
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", tmp_path / "c.pdf", tmp_path / "p"], check=True
    )
    assert zbar_read(Image.open(tmp_path / "p-1.png")) == jws
    assert verify(jws, trusted).valid


@needs_poppler
def test_pdf_is_vector_with_embedded_fonts_and_prints_every_item(
    issuer_key: IssuerKey, tmp_path: Path
) -> None:
    _, p = page(issuer_key, overseas=True)
    pdf = render_pdf(p)
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Subtype /Image" not in pdf
    assert render_pdf(p) == pdf  # reproducible: no creation time or random id inside
    (tmp_path / "c.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", tmp_path / "c.pdf", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    items = [
        "予防接種証明書",
        "Vaccination Certificate of COVID-19",
        "海外用",
        "For use overseas",
        "見本",
        "MIHON HANAKO",
        "1980年4月1日",
        "1980-04-01",
        "JPN",
        "TZ0000000",
        "コミナティ筋注",
        "Comirnaty",
        "ファイザー",
        "Spikevax",
        "Moderna",
        *(d.lot for d in p.doses),
        "5回目",
        "Dose 5",
        "2022-12-05",
        "38206-000042",
        "2026年11月27日",
        "新居浜市長",
        "Mayor of Niihama City",
    ]
    assert [i for i in items if i not in text] == []


@needs_poppler
def test_domestic_page_leaves_out_the_passport_items(issuer_key: IssuerKey, tmp_path: Path) -> None:
    _, p = page(issuer_key, overseas=False, n=2)
    (tmp_path / "c.pdf").write_bytes(render_pdf(p))
    text = subprocess.run(
        ["pdftotext", tmp_path / "c.pdf", "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "日本国内用" in text and "For use in Japan" in text
    assert "旅券番号" not in text and "MIHON" not in text


def test_a_missing_font_is_named(
    issuer_key: IssuerKey, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, p = page(issuer_key, overseas=False, n=1)
    monkeypatch.setitem(paint.FONT_FILES, "gothic", tmp_path / "ipaexg.ttf")
    paint.pil_font.cache_clear()
    try:
        with pytest.raises(CertError) as err:
            render_png(p)
        assert err.value.code is Code.NO_FONT and "fonts-ipaexfont" in err.value.message
    finally:
        paint.pil_font.cache_clear()
