"""Fuzzing the certificate decoders: only ``CertError``, and no changed card called valid.

Robustness: whatever text, JSON, DEFLATE stream, key set, QR value or image the
decoders get, they answer with a ``Verification`` or raise a ``CertError`` with a
code, nothing else. Soundness: a genuine card changed without the issuer's key
never verifies, unless the change is semantically nothing (surrounding blanks);
a card changed and re-signed with the issuer's key verifies exactly when the
spec's rules say so. Those rules (``claims_ok``, ``strict_json``) are written
here apart from ``certs.verify``, as the oracle. Each example is one case of B04
(the SHC decoder: JWS, file, key sets, CRLs) or B05 (the QR path: shc:/ values,
chunks, images).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from certs import (
    CertError,
    Code,
    IssuerKey,
    KeySets,
    Verification,
    build_bundle,
    clock,
    file_credentials,
    from_numeric,
    make_payload,
    open_image,
    qr_image,
    read_image,
    sample,
    to_numeric,
    verify,
)
from certs.inputs import read_argument
from certs.jws import MAX_JSON_DEPTH, MAX_PAYLOAD, b64url, deflate, inflate, minify
from certs.qr import MAX_PIXELS, MAX_SIDE
from certs.verdicts import summarize
from tests.conftest import Cases
from tests.hypothesis_profiles import fuzz

NOW = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
SKEW = 60  # the verifier's documented tolerance on nbf
HEALTH_CARD = "https://smarthealth.cards#health-card"
REVOKED = "revoked-rid"

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@pytest.fixture(scope="module", autouse=True)
def fixed_clock() -> Iterator[None]:
    """Date rules are checked against one instant: the oracle and the verifier agree on 'now'."""
    with mock.patch.object(clock, "now", return_value=NOW):
        yield


# --- the genuine card and the oracle ----------------------------------------------------------


@dataclass(frozen=True)
class Genuine:
    private: ec.EllipticCurvePrivateKey
    key: IssuerKey
    jwks: dict[str, Any]
    crl: dict[str, Any]
    payload: dict[str, Any]
    jws: str

    def keys(self) -> KeySets:
        keys = KeySets()
        keys.add_jwks(self.jwks, "genuine", {self.key.kid: self.crl})
        return keys

    def header(self) -> bytes:
        return minify({"alg": "ES256", "zip": "DEF", "kid": self.key.kid})

    def sign(self, header: bytes, body: bytes) -> str:
        """A JWS over any header and body bytes, with the issuer's own key."""
        signing_input = f"{b64url(header)}.{b64url(body)}"
        der = self.private.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def genuine() -> Genuine:
    private = ec.generate_private_key(ec.SECP256R1())
    key = IssuerKey(private)
    bundle = build_bundle(sample.person(True), sample.doses(3), overseas=True)
    payload = make_payload(sample.ISS, bundle, nbf=NOW_TS - 86400, rid="card-rid")
    jwks = {"keys": [{**key.public_jwk, "crlVersion": 1}]}
    crl = {"kid": key.kid, "method": "rid", "ctr": 1, "rids": [REVOKED]}
    card = Genuine(private, key, jwks, crl, payload, key.sign_compact(payload))
    assert card.keys() and verify(card.jws, card.keys()).valid
    return card


@pytest.fixture(scope="module")
def keys(genuine: Genuine) -> KeySets:
    return genuine.keys()


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def claims_ok(p: Any) -> bool:
    """The spec's rules for a payload (SHC 1.4 and RFC 7519 dates), apart from certs.verify."""
    if not isinstance(p, dict):
        return False
    iss, nbf, vc = p.get("iss"), p.get("nbf"), p.get("vc")
    if not (isinstance(iss, str) and iss.startswith("https://") and not iss.endswith("/")):
        return False
    if not (_number(nbf) and nbf <= NOW_TS + SKEW):
        return False
    if "exp" in p and not (_number(p["exp"]) and p["exp"] > NOW_TS):
        return False
    if not (
        isinstance(vc, dict) and isinstance(vc.get("type"), list) and HEALTH_CARD in vc["type"]
    ):
        return False
    subject = vc.get("credentialSubject")
    if not (isinstance(subject, dict) and isinstance(subject.get("fhirBundle"), dict)):
        return False
    return "rid" not in vc or (isinstance(vc["rid"], str) and vc["rid"] != REVOKED)


def _refuse(text: str) -> Any:
    raise ValueError(text)


def _depth(v: Any) -> int:
    if isinstance(v, dict):
        v = list(v.values())
    return 1 + max(map(_depth, v), default=0) if isinstance(v, list) else 0


def strict_json(raw: bytes) -> Any:
    """RFC 8259 JSON in UTF-8, numbers that fit a float, at most MAX_JSON_DEPTH deep; else ValueError."""
    value = json.loads(
        raw.decode("utf-8"),
        parse_constant=_refuse,
        parse_float=lambda t: float(t) if math.isfinite(float(t)) else _refuse(t),
    )
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError("too deep")
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates
    return value


def checked(result: Verification) -> Verification:
    """What every verification must look like, valid or not: coded problems, printable."""
    assert isinstance(result, Verification)
    assert result.valid or result.problems
    assert all(isinstance(p.code, Code) and p.message for p in result.problems)
    json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")  # what the CLI prints
    summarize(result)
    return result


def refused(call: Callable[[], Any], *codes: Code) -> Any:
    """The call's result, or None when it raised a CertError with one of ``codes``."""
    try:
        return call()
    except CertError as exc:
        assert exc.code in codes and exc.message, exc
        return None


# --- strategies ---------------------------------------------------------------------------------

EDGE_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    2**63,
    -(2**63),
    10**300,
    1e300,
    NOW_TS + SKEW,
    NOW_TS + SKEW + 1,
    NOW_TS,
    "",
    "0",
    "https://x",
    "https://x/",
    "http://x",
    sample.ISS,
    REVOKED,
    HEALTH_CARD,
    [],
    {},
    [HEALTH_CARD],
    {"fhirBundle": {}},
    "\u0000",
    "新居浜",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
# copies: a later change must not reach into EDGE_VALUES (hypothesis replays them)
json_values = st.sampled_from(EDGE_VALUES).map(copy.deepcopy) | st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member and item of a JSON tree, as a path from the root."""
    found = [at] if at else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += paths(v, (*at, i))
    return found


@st.composite
def mutated_tree(draw: st.DrawFn, tree: dict[str, Any]) -> dict[str, Any]:
    """One to three changes anywhere in the tree: another value (often another type), gone, or one more member."""
    out = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 3))):
        where = paths(out)
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = out
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(json_values)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return out


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """One to three edits of a string: a character replaced, inserted or removed, a cut, parts swapped."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["replace", "insert", "delete", "cut", "swap", "case"]))
        char = draw(st.characters() | st.sampled_from(list(".-_=+/ \n0Aa")))
        if op == "replace":
            text = text[:i] + char + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + char + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 8)) :]
        elif op == "cut":
            text = text[:i]
        elif op == "swap":
            parts = text.split(".")
            text = ".".join(draw(st.permutations(parts)))
        else:
            text = text[:i] + text[i : i + 1].swapcase() + text[i + 1 :]
    return text


# --- B04: the JWS ---------------------------------------------------------------------------


@pytest.mark.security("B04")
@fuzz(400)
@given(
    st.text()
    | st.binary().map(lambda b: b.decode("latin-1"))
    | st.lists(st.binary(max_size=80).map(b64url), min_size=1, max_size=4).map(".".join)
    | st.lists(st.text(alphabet="ABCab019-_.=+/ ", max_size=60), max_size=4).map(".".join)
)
def test_verify_survives_any_text(cases: Cases, keys: KeySets, text: str) -> None:
    cases()
    assert not checked(verify(text, keys)).valid


@pytest.mark.security("B04")
@fuzz(400)
@given(data=st.data())
def test_a_genuine_card_changed_without_the_key_never_verifies(
    cases: Cases, genuine: Genuine, keys: KeySets, data: st.DataObject
) -> None:
    cases()
    changed = data.draw(mutated_text(genuine.jws))
    result = checked(verify(changed, keys))
    assert not result.valid or changed.strip() == genuine.jws, changed


@pytest.mark.security("B04")
@fuzz(300)
@given(data=st.data())
def test_a_resigned_header_verifies_only_when_it_says_es256_def_and_the_key(
    cases: Cases, genuine: Genuine, keys: KeySets, data: st.DataObject
) -> None:
    cases()
    header: dict[str, Any] = {"alg": "ES256", "zip": "DEF", "kid": genuine.key.kid}
    values = json_values | st.sampled_from(
        ["ES256", "DEF", genuine.key.kid, "none", "HS256", "es256"]
    )
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(["alg", "zip", "kid", "crit", "typ", "b64", "jwk", "x5u"]))
        if data.draw(st.booleans()):
            header[name] = data.draw(values)
        else:
            header.pop(name, None)
    jws = genuine.sign(minify(header), deflate(minify(genuine.payload)))
    expected = (
        header.get("alg") == "ES256"
        and header.get("zip") == "DEF"
        and header.get("kid") == genuine.key.kid
        and "crit" not in header  # RFC 7515: unknown critical extensions void the JWS
    )
    assert checked(verify(jws, keys)).valid == expected, header


@pytest.mark.security("B04")
@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"ES256","zip":"DEF","kid":"%s"}',  # the genuine one
        b' { "alg" : "ES256" ,\n "zip":"DEF", "kid":"%s" } ',  # blanks: same meaning
        b'{"alg":"none","alg":"ES256","zip":"DEF","kid":"%s"}',  # the last duplicate wins (RFC 7515)
        b'{"alg":"ES256","zip":"DEF","kid":"%s","alg":"none"}',
        b'{"alg":"ES256","zip":"DEF","kid":"%s","x":NaN}',
        b'{"alg":"ES256","zip":"DEF","kid":"%s","x":1e999}',
        b'{"alg":"ES256","zip":"DEF","kid":"%s","x":"\\ud800"}',
        b'{"alg":"ES256","zip":"DEF","kid":"%s","x":"\xff"}',
        b'\xef\xbb\xbf{"alg":"ES256","zip":"DEF","kid":"%s"}',  # a UTF-8 BOM
        b'{"alg":"ES256","zip":"DEF","kid":"%s"}'.decode().encode("utf-16"),
        b'{"alg":"ES256","zip":"DEF","kid":"%s","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'["ES256","DEF","%s"]',
        b'"%s"',
    ],
)
def test_odd_header_bytes_resigned(genuine: Genuine, keys: KeySets, header: bytes) -> None:
    kid = genuine.key.kid
    if b"%s" in header:
        header = header.replace(b"%s", kid.encode())
    else:  # UTF-16: the placeholder's bytes are wide
        header = header.decode("utf-16").replace("%s", kid).encode("utf-16")
    jws = genuine.sign(header, deflate(minify(genuine.payload)))
    try:
        h = strict_json(header)
        expected = isinstance(h, dict) and [h.get(n) for n in ("alg", "zip", "kid")] == [
            "ES256",
            "DEF",
            kid,
        ]
    except (ValueError, RecursionError):
        expected = False
    assert checked(verify(jws, keys)).valid == expected


@pytest.mark.security("B04")
@fuzz(300)
@given(data=st.data())
def test_wrong_types_anywhere_in_a_resigned_payload(
    cases: Cases, genuine: Genuine, keys: KeySets, data: st.DataObject
) -> None:
    """Every member of the payload, vc and bundle, replaced by any JSON value, removed or added to."""
    cases()
    payload = data.draw(mutated_tree(genuine.payload))
    jws = genuine.sign(genuine.header(), deflate(minify(payload)))
    assert checked(verify(jws, keys)).valid == claims_ok(payload), payload


@pytest.mark.security("B04")
@fuzz(200)
@given(data=st.data(), resign=st.booleans())
def test_a_payload_changed_byte_by_byte_that_still_inflates(
    cases: Cases, genuine: Genuine, keys: KeySets, data: st.DataObject, resign: bool
) -> None:
    cases()
    raw = bytearray(minify(genuine.payload))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        byte = data.draw(st.integers(0, 255) | st.sampled_from(list(b'{}[]",:0123456789 e-.\\')))
        if data.draw(st.booleans()):
            raw[i] = byte
        else:
            raw.insert(i, byte)
    body = deflate(bytes(raw))
    if resign:
        jws = genuine.sign(genuine.header(), body)
    else:  # the genuine header and signature, someone else's payload
        h, _, s = genuine.jws.split(".")
        jws = f"{h}.{b64url(body)}.{s}"
    try:
        same = bytes(raw) == minify(genuine.payload)  # e.g. "{" written over "{"
        expected = (resign or same) and claims_ok(strict_json(bytes(raw)))
    except (ValueError, RecursionError):
        expected = False
    assert checked(verify(jws, keys)).valid == expected


def _raw_deflate_complete(body: bytes) -> bytes | None:
    """What a strict inflater reads from ``body``: a whole stream, nothing after it, within the limit."""
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(body, MAX_PAYLOAD + 1)
    except zlib.error:
        return None
    return out if d.eof and not d.unused_data and len(out) <= MAX_PAYLOAD else None


@st.composite
def deflate_streams(draw: st.DrawFn, plain: bytes) -> bytes:
    """Random bytes, or the payload compressed every which way, cut short or with bytes after it."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    wbits = draw(
        st.sampled_from([-15, -12, -9, 15, 31])
    )  # raw, raw with a small window, zlib, gzip
    c = zlib.compressobj(draw(st.integers(0, 9)), zlib.DEFLATED, wbits, 9, draw(st.integers(0, 4)))
    body = c.compress(plain) + c.flush()
    cut = draw(st.integers(0, len(body)))
    return draw(st.sampled_from([body, body[:cut], body + draw(st.binary(min_size=1, max_size=8))]))


@pytest.mark.security("B04")
@fuzz(300)
@given(data=st.data())
def test_any_deflate_stream_resigned(
    cases: Cases, genuine: Genuine, keys: KeySets, data: st.DataObject
) -> None:
    cases()
    body = data.draw(deflate_streams(minify(genuine.payload)))
    result = checked(verify(genuine.sign(genuine.header(), body), keys))
    plain = _raw_deflate_complete(body)
    try:
        expected = plain is not None and claims_ok(strict_json(plain))
    except (ValueError, RecursionError):
        expected = False
    assert result.valid == expected


def _bomb(size: int) -> bytes:
    """Raw DEFLATE of ``size`` zero bytes (≈1/1000 of it), built from one repeated 1 MiB block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, no history
    return block * (size >> 20) + c.flush()


@pytest.mark.security("B04")
def test_a_deflate_bomb_is_cut_off_at_the_limit(genuine: Genuine, keys: KeySets) -> None:
    bomb = _bomb(1 << 30)  # 1 GiB of zeros from about 1 MB
    assert len(bomb) < 2 << 20
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(CertError) as err:
            inflate(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code is Code.TOO_LARGE
    assert peak < 4 * MAX_PAYLOAD and time.perf_counter() - started < 1.0
    result = checked(verify(genuine.sign(genuine.header(), bomb), keys))
    assert Code.TOO_LARGE in [p.code for p in result.problems]
    # the limit itself: exactly MAX_PAYLOAD bytes inflate, one more do not
    assert len(inflate(deflate(bytes(MAX_PAYLOAD)))) == MAX_PAYLOAD
    with pytest.raises(CertError) as err:
        inflate(deflate(bytes(MAX_PAYLOAD + 1)))
    assert err.value.code is Code.TOO_LARGE


@pytest.mark.security("B04")
@pytest.mark.parametrize(
    ("depth", "valid"), [(MAX_JSON_DEPTH - 1, True), (MAX_JSON_DEPTH, False), (100_000, False)]
)
def test_deeply_nested_json(genuine: Genuine, keys: KeySets, depth: int, valid: bool) -> None:
    """The payload holds ``depth`` more levels below one member (the payload itself is one)."""
    raw = minify(genuine.payload)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    result = checked(verify(genuine.sign(genuine.header(), deflate(raw)), keys))
    assert result.valid is valid
    if not valid:
        assert [p.code for p in result.problems] == [Code.BAD_PAYLOAD]


@pytest.mark.security("B04")
def test_a_huge_payload_within_the_limit_verifies(genuine: Genuine, keys: KeySets) -> None:
    payload = {**genuine.payload, "x": "あ" * ((MAX_PAYLOAD - 4000) // 3)}
    assert len(minify(payload)) <= MAX_PAYLOAD
    assert checked(verify(genuine.sign(genuine.header(), deflate(minify(payload))), keys)).valid


@pytest.mark.security("B04")
@pytest.mark.parametrize(
    ("encode", "valid"),
    [
        (lambda t: t.encode("utf-8"), True),
        (lambda t: json.dumps(json.loads(t), separators=(",", ":")).encode(), True),  # \u escapes
        (lambda t: t.encode("utf-16"), False),
        (lambda t: t.encode("utf-32"), False),
        (lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"), False),  # BOM
        (lambda t: t.encode("shift_jis"), False),
        (lambda t: t.encode("utf-8").replace("新".encode(), b"\xc0\xaf"), False),  # overlong
        (lambda t: t.encode("utf-8").replace("新".encode(), b"\xed\xa0\x80"), False),  # surrogate
        (lambda t: t.replace("新", "\\ud800").encode("utf-8"), False),  # escaped lone surrogate
    ],
)
def test_non_utf8_payloads_are_refused(
    genuine: Genuine, keys: KeySets, encode: Callable[[str], bytes], valid: bool
) -> None:
    text = minify(genuine.payload).decode("utf-8").replace("見本", "新居浜")
    assert "新" in text
    result = checked(verify(genuine.sign(genuine.header(), deflate(encode(text))), keys))
    assert result.valid is valid
    if not valid:
        assert [p.code for p in result.problems] == [Code.BAD_PAYLOAD]


# (JSON text of nbf or exp, the verdict) — the numbers an issuer's code might write
NBF_CASES = [
    ("0", True),
    ("-1", True),
    ("-0", True),
    ("0.5", True),
    ("1e2", True),
    ("-1e308", True),
    (str(NOW_TS + SKEW), True),
    (f"{NOW_TS + SKEW}.0", True),
    (str(NOW_TS + SKEW + 1), False),
    (f"{NOW_TS + SKEW}.001", False),
    ("1e300", False),
    ("9" * 4300, False),  # an int at Python's digit limit: far in the future
    ("-" + "9" * 4300, True),
    ("9" * 4301, False),  # past the digit limit: not parsed
    ("1e400", False),
    ("-1e400", False),
    ("NaN", False),
    ("Infinity", False),
    ("-Infinity", False),
    ("true", False),
    ("false", False),
    ("null", False),
    ('"0"', False),
    ("[0]", False),
    ("{}", False),
]
EXP_CASES = [
    (str(NOW_TS + 1), True),
    ("1e300", True),
    ("9" * 4300, True),
    (f"{NOW_TS}.5", True),
    (str(NOW_TS), False),  # exp is the first instant the card is no longer valid
    ("0", False),
    ("-1e308", False),
    ("1e400", False),
    ("NaN", False),
    ("Infinity", False),
    ("true", False),
    ("null", False),
    (f'"{NOW_TS + 86400}"', False),
    ("[]", False),
]


def _with_claim(genuine: Genuine, name: str, literal: str) -> bytes:
    """The genuine payload, minified, with ``name`` set to a literal JSON text."""
    return minify({**genuine.payload, name: "@@"}).replace(b'"@@"', literal.encode())


@pytest.mark.security("B04")
@pytest.mark.parametrize(("literal", "valid"), NBF_CASES)
def test_nbf_edge_cases(genuine: Genuine, keys: KeySets, literal: str, valid: bool) -> None:
    raw = _with_claim(genuine, "nbf", literal)
    assert checked(verify(genuine.sign(genuine.header(), deflate(raw)), keys)).valid is valid


@pytest.mark.security("B04")
@pytest.mark.parametrize(("literal", "valid"), EXP_CASES)
def test_exp_edge_cases(genuine: Genuine, keys: KeySets, literal: str, valid: bool) -> None:
    raw = _with_claim(genuine, "exp", literal)
    assert checked(verify(genuine.sign(genuine.header(), deflate(raw)), keys)).valid is valid


@pytest.mark.security("B04")
@fuzz(300)
@given(
    name=st.sampled_from(["nbf", "exp"]),
    when=st.integers(-(2**70), 2**70)
    | st.integers(NOW_TS - 5, NOW_TS + SKEW + 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(NOW_TS - 5.0, NOW_TS + SKEW + 5.0),
)
def test_any_numeric_date(
    cases: Cases, genuine: Genuine, keys: KeySets, name: str, when: float
) -> None:
    cases()
    payload = {**genuine.payload, name: when}
    result = checked(verify(genuine.sign(genuine.header(), deflate(minify(payload))), keys))
    assert result.valid == (when <= NOW_TS + SKEW if name == "nbf" else when > NOW_TS)


# --- B04: the .smart-health-card file, key sets, revocation lists -----------------------------


@pytest.mark.security("B04")
@fuzz(200)
@given(
    st.binary(max_size=200)
    | json_values.map(minify)
    | st.lists(st.text(max_size=8) | json_values, max_size=3).map(
        lambda v: minify({"verifiableCredential": v})
    )
)
def test_file_credentials_on_any_input(cases: Cases, raw: bytes) -> None:
    cases()
    creds = refused(lambda: file_credentials(raw), Code.BAD_INPUT)
    if creds is not None:
        listed = json.loads(raw)["verifiableCredential"]
        assert creds == listed and listed and all(isinstance(c, str) for c in listed)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.security("B04")
@fuzz(200)
@given(data=st.binary(max_size=300) | st.sampled_from([b"", b"{", b"\x89PNG\r\n\x1a\n", b"shc:/"]))
def test_the_cli_input_reader_on_any_bytes(cases: Cases, scratch: Path, data: bytes) -> None:
    cases()
    (scratch / "input").write_bytes(data)
    found = refused(
        lambda: read_argument(str(scratch / "input")), Code.BAD_INPUT, Code.BAD_QR, Code.TOO_LARGE
    )
    assert found is None or all(isinstance(f.value, str) for f in found)


@pytest.mark.security("B04")
@fuzz(200)
@given(
    jwks=json_values
    | st.lists(json_values, max_size=3).map(lambda ks: {"keys": ks})
    | st.lists(
        st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "kid", "x5c", "d"]), json_values),
        max_size=2,
    ).map(lambda ks: {"keys": ks}),
    crls=st.dictionaries(st.text(max_size=4), json_values, max_size=2),
)
def test_key_sets_from_any_json(cases: Cases, jwks: Any, crls: dict[str, Any]) -> None:
    cases()
    refused(lambda: KeySets().add_jwks(jwks, "fuzz", crls), Code.BAD_KEY_SET)


def _same_key(keys: KeySets, kid: str, original: ec.EllipticCurvePublicKey) -> bool:
    trusted = keys.keys.get(kid)
    return trusted is not None and trusted.key.public_numbers() == original.public_numbers()


def _rids(crl: Any) -> set[str]:
    ok = isinstance(crl, dict) and isinstance(crl.get("rids"), list)
    return {str(r) for r in crl["rids"]} if ok else set()


@pytest.mark.security("B04")
@fuzz(200)
@given(data=st.data())
def test_a_mutated_key_set_or_list_never_lets_a_card_through_wrongly(
    cases: Cases, genuine: Genuine, data: st.DataObject
) -> None:
    cases()
    doc = data.draw(mutated_tree({"jwks": genuine.jwks, "crl": genuine.crl}))
    jwks, crl = doc.get("jwks"), doc.get("crl")
    keys = KeySets()
    added = refused(
        lambda: keys.add_jwks(jwks, "fuzz", {genuine.key.kid: crl}) or True, Code.BAD_KEY_SET
    )
    assert added or not keys.keys  # a refused key set is not half trusted
    if checked(verify(genuine.jws, keys)).valid:
        # only the issuer's own key, under its own kid, verifies its card; never when listed
        assert _same_key(keys, genuine.key.kid, genuine.private.public_key())
        assert genuine.payload["vc"]["rid"] not in _rids(crl)


@pytest.mark.security("B04")
@fuzz(150)
@given(data=st.data())
def test_mutated_vector_key_sets(cases: Cases, vectors: Path, data: st.DataObject) -> None:
    """The spec's example issuer (with its revocation list) and Japan's archived key set (x5c)."""
    cases()
    wk = vectors / "issuer" / ".well-known"
    spec = json.loads((wk / "jwks.json").read_text())
    crl = json.loads(next((wk / "crl").glob("*.json")).read_text())
    japan = json.loads((vectors.parent / "japan-vrs-issuer-jwks.json").read_text())
    doc = data.draw(mutated_tree({"spec": spec, "crl": crl, "japan": japan}))
    keys = KeySets()
    refused(
        lambda: keys.add_jwks(doc.get("spec"), "spec", {crl["kid"]: doc.get("crl")}),
        Code.BAD_KEY_SET,
    )
    refused(lambda: keys.add_jwks(doc.get("japan"), "japan"), Code.BAD_KEY_SET)
    result = checked(verify((vectors / "example-00-d-jws.txt").read_text().strip(), keys))
    if result.valid:
        original = KeySets()
        original.add_path(wk / "jwks.json")
        kid = result.header["kid"]  # type: ignore[index]
        assert keys.keys[kid].key.public_numbers() == original.keys[kid].key.public_numbers()


@pytest.mark.security("B04")
def test_an_x5c_certificate_with_an_unknown_key_type_is_a_bad_key_set(vectors: Path) -> None:
    """cryptography raises UnsupportedAlgorithm (no ValueError) for such a leaf's key."""
    jwks = json.loads((vectors.parent / "japan-vrs-issuer-jwks.json").read_text())
    leaf = base64.b64decode(jwks["keys"][0]["x5c"][0])
    ec_public_key = bytes.fromhex("06072A8648CE3D0201")  # OID 1.2.840.10045.2.1
    assert leaf.count(ec_public_key) == 1
    unknown = leaf.replace(ec_public_key, bytes.fromhex("06072A8648CE3D0209"))
    jwks["keys"][0]["x5c"][0] = base64.b64encode(unknown).decode()
    with pytest.raises(CertError) as err:
        KeySets().add_jwks(jwks, "odd x5c")
    assert err.value.code is Code.BAD_KEY_SET


@pytest.mark.security("B04")
@fuzz(150)
@given(
    jwks=st.binary(max_size=120) | json_values.map(minify),
    crl=st.none() | st.binary(max_size=120) | json_values.map(minify),
)
def test_key_set_folders_with_any_files(
    cases: Cases, scratch: Path, genuine: Genuine, jwks: bytes, crl: bytes | None
) -> None:
    cases()
    wk = scratch / "issuer" / ".well-known"
    (wk / "crl").mkdir(parents=True, exist_ok=True)
    (wk / "jwks.json").write_bytes(jwks)
    crl_file = wk / "crl" / f"{genuine.key.kid}.json"
    crl_file.unlink(missing_ok=True)
    if crl is not None:
        crl_file.write_bytes(crl)
    refused(lambda: KeySets().add_path(scratch / "issuer"), Code.BAD_KEY_SET)
    refused(lambda: KeySets().add_path(wk / "jwks.json"), Code.BAD_KEY_SET)


# --- B05: shc:/ values and chunks ---------------------------------------------------------


@pytest.mark.security("B05")
@fuzz(300)
@given(
    st.text()
    | st.from_regex(r"\s*shc:/[0-9]{0,40}\s*", fullmatch=True)
    | st.from_regex(r"shc:/[0-9]{1,12}/[0-9]{1,12}/[0-9]{0,20}", fullmatch=True)
    | st.just("shc:/" + "1" * 5000 + "/1/00")
    | st.lists(
        st.text(max_size=30)
        | st.from_regex(r"shc:/[0-3]/[0-3]/[0-9]{1,10}", fullmatch=True)
        | st.integers()
        | st.none(),
        max_size=5,
    )
)
def test_from_numeric_on_anything(cases: Cases, value: Any) -> None:
    cases()
    jws = refused(lambda: from_numeric(value), Code.BAD_QR)
    if jws is None:
        return
    assert isinstance(jws, str) and all(45 <= ord(c) <= 122 for c in jws)
    if isinstance(value, str) and value.strip().count("/") == 1:  # a single value, not a chunk
        assert to_numeric(jws) == value.strip()  # it decodes one way only


@pytest.mark.security("B05")
@fuzz(200)
@given(data=st.data())
def test_chunks_in_any_order_and_what_tampering_does(
    cases: Cases, genuine: Genuine, keys: KeySets, data: st.DataObject
) -> None:
    cases()
    digits = to_numeric(genuine.jws)[len("shc:/") :]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(digits) - 1), max_size=4)))
    pieces = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    n = len(pieces)
    chunks = [f"shc:/{i}/{n}/{p}" for i, p in enumerate(pieces, 1)] if n > 1 else [f"shc:/{digits}"]
    assert from_numeric(data.draw(st.permutations(chunks))) == genuine.jws
    tampered = data.draw(st.permutations(chunks))
    i = data.draw(st.integers(0, n - 1))
    tampered[i] = data.draw(mutated_text(tampered[i]))
    if data.draw(st.booleans()):
        tampered.append(data.draw(st.sampled_from(chunks)))
    jws = refused(lambda: from_numeric(tampered), Code.BAD_QR)
    if jws is not None:
        assert not checked(verify(jws, keys)).valid or jws == genuine.jws


# --- B05: images ------------------------------------------------------------------------------


def _png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` grey pixels; a blank image by default."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    if idat is None:
        idat = zlib.compress(bytes(1 + width) * height) if width * height <= 4_000_000 else b""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _decode_image(raw: bytes) -> list[str] | None:
    """open_image then read_image, as the CLI does; None when the bytes are refused or no image."""
    image = refused(lambda: open_image(raw), Code.BAD_INPUT, Code.TOO_LARGE)
    if image is None:
        return None
    values = refused(lambda: read_image(image), Code.BAD_INPUT, Code.TOO_LARGE)
    assert values is None or all(isinstance(v, str) for v in values)
    return values


MAGIC = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xdb",
    b"GIF89a",
    b"GIF87a",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
]


@pytest.mark.security("B05")
@fuzz(400)
@given(
    st.binary(max_size=400)
    | st.tuples(st.sampled_from(MAGIC), st.binary(max_size=400)).map(b"".join)
)
def test_open_image_on_any_bytes(cases: Cases, raw: bytes) -> None:
    cases()
    _decode_image(raw)


@pytest.fixture(scope="module")
def qr_files(genuine: Genuine) -> dict[str, bytes]:
    """The genuine card's QR as PNG and JPEG files, small (2 pixels a module)."""
    out = {}
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        qr_image(to_numeric(genuine.jws), module_px=2).convert("L").save(buf, fmt)
        out[fmt] = buf.getvalue()
        assert _decode_image(out[fmt]) == [to_numeric(genuine.jws)]
    return out


@pytest.mark.security("B05")
@fuzz(200)
@given(
    fmt=st.sampled_from(["PNG", "JPEG"]),
    cut=st.none() | st.integers(0, 20_000),
    flips=st.lists(st.tuples(st.integers(0, 20_000), st.integers(1, 255)), max_size=3),
)
def test_a_damaged_real_qr_image(
    cases: Cases,
    genuine: Genuine,
    keys: KeySets,
    qr_files: dict[str, bytes],
    fmt: str,
    cut: int | None,
    flips: list[tuple[int, int]],
) -> None:
    """Cut short or with bytes flipped: refused, or read; what is read verifies only if it is the card."""
    cases()
    raw = bytearray(qr_files[fmt])
    for at, xor in flips:
        raw[at % len(raw)] ^= xor
    values = _decode_image(bytes(raw[:cut]))
    for value in values or []:
        jws = refused(lambda v=value: from_numeric(v), Code.BAD_QR)
        if jws is not None:
            assert not checked(verify(jws, keys)).valid or jws == genuine.jws


@pytest.mark.security("B05")
@fuzz(200)
@given(
    width=st.integers(1, 3000)
    | st.integers(1, 2**31 - 1)
    | st.sampled_from([MAX_SIDE, MAX_SIDE + 1]),
    height=st.integers(1, 300) | st.integers(1, 2**31 - 1),
)
def test_image_dimensions_tiny_to_huge(cases: Cases, width: int, height: int) -> None:
    """Past MAX_PIXELS or MAX_SIDE an image is refused from its header alone, undecoded."""
    cases()
    raw = _png(width, height)
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        with pytest.raises(CertError) as err:
            open_image(raw)
        assert err.value.code is Code.TOO_LARGE
    elif width * height <= 4_000_000:  # a well-formed blank image: read, nothing found
        assert _decode_image(raw) == []
    else:  # announced but without pixel data
        _decode_image(raw)


@pytest.mark.security("B05")
@pytest.mark.parametrize(
    "mode",
    [
        "1",
        "L",
        "LA",
        "La",
        "P",
        "PA",
        "RGB",
        "RGBA",
        "CMYK",
        "YCbCr",
        "LAB",
        "HSV",
        "I",
        "I;16",
        "F",
    ],
)
@pytest.mark.parametrize("size", [(0, 0), (0, 5), (1, 1), (3, 1), (21, 21)])
def test_read_image_in_any_mode_and_size(mode: str, size: tuple[int, int]) -> None:
    assert refused(lambda: read_image(Image.new(mode, size)), Code.BAD_INPUT) in ([], None)


@pytest.mark.security("B05")
def test_a_huge_image_object_is_refused_before_reading() -> None:
    huge = Image.new("1", (MAX_PIXELS // 1000 + 1, 1000))
    with pytest.raises(CertError) as err:
        read_image(huge)
    assert err.value.code is Code.TOO_LARGE
