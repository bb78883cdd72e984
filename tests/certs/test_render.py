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
    read_image,
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


# --- the overseas page: the ICAO VDS-NC seal beside the SMART Health Card ---------------------


def seal_page(key: IssuerKey, n: int) -> tuple[str, str, Printable]:
    """An overseas page with both codes, and the two values printed."""
    from certs import vds_pki
    from certs.vds import seal_json

    cid = "3820590123456789"
    bundle = build_bundle(sample.person(True), sample.doses(n), overseas=True, certificate_id=cid)
    jws = sign(key, sample.ISS, bundle)
    csca_key, csca = vds_pki.make_csca()
    seal = seal_json(sample.seal(cid, vds_pki.make_signer(csca_key, csca), n))
    page = sample.printable(to_numeric(jws), cid, date(2026, 11, 27), True, n, seal)
    return to_numeric(jws), seal, page


def all_codes(image: Image.Image) -> tuple[list[str], list[str]]:
    """Every QR value on a page, by zxing-cpp and by zbar (independent decoders)."""
    zbar = [s.data.decode() for s in pyzbar.decode(image) if s.type == "QRCODE"]
    return sorted(read_image(image)), sorted(zbar)


@needs_poppler
@pytest.mark.parametrize("n", [1, 3, 5])
def test_the_overseas_page_carries_both_codes_each_labelled(
    issuer_key: IssuerKey, tmp_path: Path, n: int
) -> None:
    shc, seal, p = seal_page(issuer_key, n)
    png = Image.open(io.BytesIO(render_png(p)))
    assert png.size == (1654, 2339)  # still one A4 page at 200 dpi
    assert all_codes(png) == (sorted([shc, seal]),) * 2
    (tmp_path / "c.pdf").write_bytes(render_pdf(p))
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", tmp_path / "c.pdf", tmp_path / "p"], check=True
    )
    assert sorted(f.name for f in tmp_path.glob("p-*.png")) == ["p-1.png"]
    assert all_codes(Image.open(tmp_path / "p-1.png")) == (sorted([shc, seal]),) * 2
    text = subprocess.run(
        ["pdftotext", tmp_path / "c.pdf", "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "ICAO VDS-NC" in text and "SMART Health Card" in text and f"Dose {n}" in text


def test_the_domestic_page_carries_only_the_shc(issuer_key: IssuerKey) -> None:
    jws, p = page(issuer_key, overseas=False)
    assert p.seal_value is None
    png = Image.open(io.BytesIO(render_png(p)))
    assert all_codes(png) == ([to_numeric(jws)], [to_numeric(jws)])


def test_the_seal_qr_is_byte_mode_and_sized_for_arm_s_length(issuer_key: IssuerKey) -> None:
    import zxingcpp

    _, seal, p = seal_page(issuer_key, 3)
    [found] = [
        b for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(render_png(p)))) if b.text == seal
    ]
    # zxing-cpp calls a byte segment without ECI binary (numeric or alphanumeric: text)
    assert found.content_type == zxingcpp.ContentType.Binary
    assert found.extra["ECLevel"] == "L"
    side = 17 + 4 * int(found.extra["Version"])  # modules a side
    width_px = found.position.top_right.x - found.position.top_left.x
    assert width_px == pytest.approx(side * 4, abs=4)  # 4 px a module at 200 dpi: 0.508 mm
    assert width_px / paint.PX > 55  # mm on paper


def test_many_doses_shorten_the_rows_and_too_many_are_refused(issuer_key: IssuerKey) -> None:
    import dataclasses

    shc, seal, p = seal_page(issuer_key, 5)
    eight = dataclasses.replace(p, doses=p.doses + p.doses[:3])
    png = Image.open(io.BytesIO(render_png(eight)))
    assert all_codes(png)[0] == sorted([shc, seal])  # the codes still on the page, whole
    with pytest.raises(CertError) as exc:
        render_png(dataclasses.replace(p, doses=p.doses * 4))
    assert exc.value.code == Code.TOO_LARGE
