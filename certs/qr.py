"""The ``shc:/`` QR code: QR symbols, and reading them back (zxing-cpp).

The numeric encoding itself is ``certs.numeric`` (re-exported here); the QR holds
``shc:/`` in a byte segment and the digits in a numeric segment, at error
correction level L, in the smallest version that fits — never above 22.
zxing-cpp's writer picks that segmentation and version itself: a test builds
the same content segment by segment with the ``qrcode`` package and finds the
two symbols equal module for module. zxing-cpp is about 30 times faster than
``qrcode`` (see benchmarks/bench_certs.py).
"""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

from .errors import CertError, Code
from .numeric import PREFIX as PREFIX
from .numeric import SINGLE
from .numeric import from_numeric as from_numeric
from .numeric import to_numeric as to_numeric

MAX_VERSION = 22
MAX_JWS = 1195  # the longest JWS that fits version 22 at level L
# a 48-megapixel phone photo fits; a header announcing more is a decompression bomb
MAX_PIXELS = 50_000_000
MAX_SIDE = 65535  # zxing-cpp reads no wider or taller image (ValueError)
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # what cameras and scanners write


def qr_symbol(numeric: str) -> zxingcpp.Barcode:
    """The QR symbol (a zxing-cpp barcode) of an ``shc:/`` value."""
    if len(numeric) - len(PREFIX) > 2 * MAX_JWS:
        raise CertError(Code.TOO_LARGE, f"the JWS is longer than {MAX_JWS} characters")
    if not SINGLE.fullmatch(numeric):
        raise CertError(Code.BAD_QR, "only a single shc:/ value is encoded (chunks are deprecated)")
    symbol = zxingcpp.create_barcode(numeric, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
    if version(symbol) > MAX_VERSION:
        raise CertError(Code.TOO_LARGE, f"the QR would need a version above {MAX_VERSION}")
    return symbol


MAX_BYTES = 2953  # a version 40 symbol at level L, in byte mode


def bytes_symbol(data: bytes) -> zxingcpp.Barcode:
    """A byte-mode QR symbol of ``data`` at level L (the ICAO seal's JSON)."""
    if len(data) > MAX_BYTES:
        raise CertError(Code.TOO_LARGE, f"a QR code holds at most {MAX_BYTES} bytes")
    return zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level="L")


def symbol_modules(data: bytes) -> list[list[bool]]:
    return modules(bytes_symbol(data))


def bytes_qr_image(data: bytes, *, module_px: int = 4) -> Image.Image:
    """The byte-mode QR of ``data`` as a 1-bit image with its quiet zone."""
    return _image(bytes_symbol(data), module_px)


def modules(symbol: zxingcpp.Barcode) -> list[list[bool]]:
    """The symbol's modules, row by row (True: dark), without the quiet zone."""
    raw = symbol.to_image(scale=1, add_quiet_zones=False)
    size, data = raw.shape[0], bytes(memoryview(raw))  # type: ignore[arg-type]  # zxing-cpp's stub omits Image's buffer protocol
    return [[b < 128 for b in data[r * size : (r + 1) * size]] for r in range(size)]


def version(symbol: zxingcpp.Barcode) -> int:
    size: int = symbol.to_image(scale=1, add_quiet_zones=False).shape[0]
    return (size - 17) // 4


def qr_image(numeric: str, *, module_px: int = 4) -> Image.Image:
    """The QR as a 1-bit image with its quiet zone, ``module_px`` pixels a module."""
    return _image(qr_symbol(numeric), module_px)


def _image(symbol: zxingcpp.Barcode, module_px: int) -> Image.Image:
    raw = symbol.to_image(scale=module_px, add_quiet_zones=True)
    h, w = raw.shape
    return Image.frombytes("L", (w, h), bytes(memoryview(raw))).convert("1")  # type: ignore[arg-type]  # zxing-cpp's stub omits Image's buffer protocol


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise CertError(
            Code.TOO_LARGE, f"the image is larger than {MAX_PIXELS} pixels or {MAX_SIDE} a side"
        )


def open_image(raw: bytes) -> Image.Image | None:
    """The picture in an image file's bytes, decoded; None when they are no image at all."""
    try:
        image = Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError:
        raise CertError(Code.TOO_LARGE, "the image has too many pixels") from None
    except Exception:  # Pillow's corrupt-file errors are many and undocumented
        raise CertError(Code.BAD_INPUT, "the image file is damaged") from None
    _check_size(*image.size)  # from the header, before any pixel is decoded
    try:
        image.load()
    except Exception:  # truncated data, bad CRCs, broken JPEG markers, …
        raise CertError(Code.BAD_INPUT, "the image file is damaged or truncated") from None
    return image


def read_image(image: Image.Image) -> list[str]:
    """Every QR value found in an image (zxing-cpp's reader)."""
    _check_size(*image.size)
    if not image.width or not image.height:
        return []
    try:
        gray = image.convert("L")
    except ValueError:  # modes without a grey conversion (LAB, La)
        raise CertError(Code.BAD_INPUT, f"images of mode {image.mode} are not read") from None
    found = zxingcpp.read_barcodes(
        gray, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    return [b.text for b in found if b.valid]
