"""certs.inputs: what each `cert verify` argument holds, from values, files, pictures and PDFs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from certs import CertError, Code, qr_image
from certs import inputs as inputs_module
from certs.inputs import Found, Kind, from_bytes, is_value, pdf_pages, read_argument
from kiosk_sim.cli import main
from tests.conftest import Cases
from tests.hypothesis_profiles import fuzz


@pytest.fixture(scope="module")
def domestic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("domestic")
    with freeze_time("2026-03-31T15:30:00Z"):
        assert main(["cert", "sample", "--out", str(out)]) == 0
    return out


def _pdf(*pages: Image.Image) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=200, save_all=True, append_images=list(pages[1:]))
    return buf.getvalue()


def _refused(code: Code, call: object) -> str:
    with pytest.raises(CertError) as err:
        call()  # type: ignore[operator]
    assert err.value.code is code, err.value
    return err.value.message


def test_an_shc_value_given_as_an_argument_is_the_card(domestic: Path) -> None:
    value = (domestic / "qr-numeric.txt").read_text().strip()
    jws = (domestic / "certificate.jws").read_text().strip()
    assert read_argument(value) == [Found(Kind.SHC, jws, "argument 1", "argument 1")]
    assert read_argument(f"  {value}\n", position=3)[0].source == "argument 3"
    assert read_argument(jws) == [Found(Kind.SHC, jws, "argument 1", "argument 1")]


def test_a_file_named_like_a_jws_is_read_as_the_file(
    domestic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jws = (domestic / "certificate.jws").read_text().strip()
    monkeypatch.chdir(tmp_path)
    Path("eyJx.y.z").write_text(jws)
    assert not is_value("eyJx.y.z") and is_value(jws)
    (found,) = read_argument("eyJx.y.z")
    assert found.value == jws and found.source == "eyJx.y.z"


def test_the_printed_pdf_holds_the_card_on_its_page(domestic: Path) -> None:
    (found,) = read_argument(str(domestic / "certificate.pdf"))
    assert found.kind is Kind.SHC
    assert found.value == (domestic / "certificate.jws").read_text().strip()
    assert found.source == found.page == f"{domestic / 'certificate.pdf'}, page 1"


def test_a_pdf_is_read_page_by_page_up_to_its_bound(domestic: Path) -> None:
    blank = Image.new("L", (1654, 2339), 255)
    qr = Image.open(domestic / "qr.png").convert("L")
    page = blank.copy()
    page.paste(qr, (200, 200))
    found = from_bytes(_pdf(blank, page), "two.pdf")
    assert [f.source for f in found] == ["two.pdf, page 2"]
    beyond = [blank] * inputs_module.PDF_PAGES + [page]
    assert from_bytes(_pdf(*beyond), "long.pdf") == []  # page 5 is never rasterized


def test_a_huge_pdf_page_is_rasterized_to_a_bounded_size() -> None:
    # a page 100 inches a side at 10 dpi: pdftoppm's default 150 dpi would be 15000 pixels
    big = io.BytesIO()
    Image.new("L", (1000, 1000), 255).save(big, "PDF", resolution=10)
    (page,) = pdf_pages(big.getvalue())
    assert max(page.size) == inputs_module.PDF_LONG_SIDE


def test_a_picture_with_two_cards_and_another_qr_gives_both_cards(
    domestic: Path, tmp_path: Path
) -> None:
    jws = (domestic / "certificate.jws").read_text().strip()
    card = qr_image((domestic / "qr-numeric.txt").read_text().strip(), module_px=3).convert("L")
    other = qr_image("shc:/" + "56" * 30, module_px=3).convert("L")
    url = zxingcpp.create_barcode("https://example.org/", zxingcpp.BarcodeFormat.QRCode)
    raw = url.to_image(scale=6, add_quiet_zones=True)
    url_img = Image.frombytes("L", (raw.shape[1], raw.shape[0]), bytes(memoryview(raw)))
    sheet = Image.new("L", (card.width * 2 + url_img.width, card.height), 255)
    sheet.paste(card, (0, 0))
    sheet.paste(other, (card.width, 0))
    sheet.paste(url_img, (card.width * 2, 0))
    sheet.save(tmp_path / "sheet.png")
    found = read_argument(str(tmp_path / "sheet.png"))
    assert sorted(f.value for f in found) == sorted([jws, "e" * 30])  # 56 + 45 is "e"
    assert {f.page for f in found} == {str(tmp_path / "sheet.png")}  # one page: cross-checked


def test_a_card_in_chunks_on_one_picture_is_one_card(domestic: Path, tmp_path: Path) -> None:
    jws = (domestic / "certificate.jws").read_text().strip()
    digits = (domestic / "qr-numeric.txt").read_text().strip()[len("shc:/") :]
    half = len(digits) // 2
    chunks = [f"shc:/2/2/{digits[half:]}", f"shc:/1/2/{digits[:half]}"]  # in any order
    symbols = []
    for chunk in chunks:
        qr = zxingcpp.create_barcode(chunk, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
        raw = qr.to_image(scale=3, add_quiet_zones=True)
        symbols.append(Image.frombytes("L", (raw.shape[1], raw.shape[0]), bytes(memoryview(raw))))
    sheet = Image.new("L", (sum(i.width for i in symbols), max(i.height for i in symbols)), 255)
    sheet.paste(symbols[0], (0, 0))
    sheet.paste(symbols[1], (symbols[0].width, 0))
    sheet.save(tmp_path / "chunks.png")
    assert [f.value for f in read_argument(str(tmp_path / "chunks.png"))] == [jws]


def test_a_seal_json_is_a_seal_and_other_json_is_refused() -> None:
    seal = json.dumps({"data": {"hdr": {}}, "sig": {}})
    (found,) = read_argument(seal)
    assert found.kind is Kind.SEAL and found.value == seal
    assert "not strict JSON: Expecting" in _refused(
        Code.BAD_INPUT, lambda: read_argument(seal[:-3])
    )
    assert "neither" in _refused(Code.BAD_INPUT, lambda: read_argument('{"a": 1}'))
    huge = "shc:/" + "1" * inputs_module.MAX_TEXT
    assert "characters" in _refused(Code.TOO_LARGE, lambda: read_argument(huge))


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (b"", Code.BAD_INPUT, "empty"),
        (b"\xff\xfe\x00\x01binary", Code.BAD_INPUT, "neither a JWS"),
        (b"%PDF-1.4\ngarbage", Code.BAD_INPUT, "PDF is damaged"),
        (b"x" * (inputs_module.MAX_TEXT + 1), Code.TOO_LARGE, "bytes of text"),
    ],
)
def test_unusable_bytes_say_why(data: bytes, code: Code, reason: str) -> None:
    assert reason in _refused(code, lambda: from_bytes(data, "input"))


def test_a_cut_pdf_and_a_file_past_the_bound(domestic: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pdf"
    cut.write_bytes((domestic / "certificate.pdf").read_bytes()[:35_000])
    assert "PDF is damaged" in _refused(Code.BAD_INPUT, lambda: read_argument(str(cut)))
    big = tmp_path / "big.png"
    with big.open("wb") as f:
        f.truncate(inputs_module.MAX_FILE + 1)  # sparse: no 20 MB written
    message = _refused(Code.TOO_LARGE, lambda: read_argument(str(big)))
    assert message == f"{big} is larger than {inputs_module.MAX_FILE:,} bytes"


def test_pdftoppm_that_takes_too_long_is_stopped(
    domestic: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs_module, "PDF_SECONDS", 0.001)
    raw = (domestic / "certificate.pdf").read_bytes()
    assert "not rasterized within" in _refused(Code.TOO_LARGE, lambda: from_bytes(raw, "p.pdf"))


def test_a_picture_without_a_code_is_unusable(tmp_path: Path) -> None:
    Image.new("L", (100, 100), 255).save(tmp_path / "white.png")
    message = _refused(Code.BAD_INPUT, lambda: read_argument(str(tmp_path / "white.png")))
    assert message.startswith("no SMART Health Card or ICAO seal QR code found in")


# --- property tests: any argument is codes, a CertError or (a file) an OSError --------------


@pytest.fixture(scope="module")
def in_empty_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Relative names the strategies invent resolve in a folder of nothing."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


ARGUMENTS = (
    st.text(max_size=60)
    | st.sampled_from(["\0", "a\0b", "-", ".", "/", "", " "])
    | st.from_regex(r"\s*shc:/[0-9]{0,60}\s*", fullmatch=True)
    | st.from_regex(r"shc:/[0-9]{1,3}/[0-9]{1,3}/[0-9]{0,20}", fullmatch=True)
    | st.from_regex(
        r"eyJ[A-Za-z0-9_-]{0,30}\.[A-Za-z0-9_-]{0,30}\.[A-Za-z0-9_-]{0,30}", fullmatch=True
    )
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(["data", "sig", "verifiableCredential", "x"]), c, max_size=3
            )
        ),
        max_leaves=8,
    ).map(json.dumps)
)


@pytest.mark.security("B08")
@fuzz(300)
@given(arg=ARGUMENTS)
def test_any_argument(cases: Cases, in_empty_folder: None, arg: str) -> None:
    cases()
    try:
        found = read_argument(arg)
    except CertError as exc:
        assert exc.code in (Code.BAD_INPUT, Code.BAD_QR, Code.TOO_LARGE) and exc.message
        return
    except OSError:
        assert not is_value(arg)  # a value is never taken for a file name
        return
    assert found and all(f.kind in Kind and isinstance(f.value, str) for f in found)
