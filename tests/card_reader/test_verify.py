"""Verification of card data: issuer trust (M31), integrity (M03), card presence."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from card_reader import CardFiles, InMemoryTransport, TextApplication, TrustStore, cvc, verify_card
from card_reader.errors import ErrorCode, VerificationError
from card_reader.softcard import DevCardIssuer, Profile

from .conftest import CardFactory


def read(card: object, challenge: bytes | None = None) -> CardFiles:
    app = TextApplication(InMemoryTransport(card))  # type: ignore[arg-type]
    app.select()
    app.verify_pin(Profile.demo().pin)
    return app.read_card_files(challenge)


@pytest.fixture
def genuine(card: CardFactory) -> tuple[CardFiles, bytes]:
    challenge = secrets.token_bytes(32)
    return read(card(), challenge), challenge


def test_genuine_card_verifies(genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer) -> None:
    files, challenge = genuine
    result = verify_card(files, issuer.trust_store(), expected_challenge=challenge)
    assert result.my_number == Profile.demo().my_number
    assert result.info.name == Profile.demo().name
    assert result.presence_checked
    assert Profile.demo().my_number not in repr(result)


@pytest.mark.measure("M31")
def test_card_signed_by_an_issuer_outside_the_trust_store_is_refused(
    genuine: tuple[CardFiles, bytes],
) -> None:
    files, challenge = genuine
    with pytest.raises(VerificationError) as err:
        verify_card(files, TrustStore(), expected_challenge=challenge)
    assert err.value.code is ErrorCode.UNKNOWN_ISSUER


@pytest.mark.measure("M31")
def test_the_cards_own_key_is_never_enough(genuine: tuple[CardFiles, bytes]) -> None:
    """A forger signs the CVC with a key of his own and names the real CA's key ID."""
    files, challenge = genuine
    real = cvc.parse(files.ef0004)
    forger = rsa.generate_private_key(65537, 2048)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    forged = cvc.encode(real.body, forger.sign(real.body, padding.PKCS1v15(), hashes.SHA256()))
    # a store that holds the forger's key under another ID does not help him either
    store = TrustStore({b"F" * 16: forger.public_key()})
    with pytest.raises(VerificationError) as err:
        verify_card(dataclasses.replace(files, ef0004=forged), store, expected_challenge=challenge)
    assert err.value.code is ErrorCode.UNKNOWN_ISSUER


@pytest.mark.measure("M31")
def test_certificate_with_a_wrong_signature_is_refused(
    genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer
) -> None:
    files, _challenge = genuine
    ef = bytearray(files.ef0004)
    ef[-1] ^= 1
    with pytest.raises(VerificationError) as err:
        verify_card(dataclasses.replace(files, ef0004=bytes(ef)), issuer.trust_store())
    assert err.value.code is ErrorCode.BAD_CERTIFICATE


@pytest.mark.measure("M03")
@pytest.mark.parametrize("field", ["ef0001", "ef0002", "ef0003"])
def test_one_byte_changed_in_the_signed_data_is_refused(
    genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer, field: str
) -> None:
    files, challenge = genuine
    data = bytearray(getattr(files, field))
    # a byte of the My Number, of the name, or of the first digest (EF 0002's DF21
    # offsets are outside the signed data on real cards too; the parser ignores them)
    at = data.index(Profile.demo().name.encode()) if field == "ef0002" else 8
    data[at] ^= 0x01
    tampered = dataclasses.replace(files, **{field: bytes(data)})
    with pytest.raises(VerificationError) as err:
        verify_card(tampered, issuer.trust_store(), expected_challenge=challenge)
    assert err.value.code in (
        ErrorCode.DIGEST_MISMATCH,
        ErrorCode.BAD_SIGNATURE,
        ErrorCode.MALFORMED_DATA,
    )


def test_another_holders_data_under_this_cards_signature_is_refused(
    card: CardFactory, issuer: DevCardIssuer
) -> None:
    other = Profile(**{**Profile.demo().__dict__, "name": "見本　太郎", "sex": "1"})
    mine = read(card())
    theirs = read(card(other))
    mixed = dataclasses.replace(mine, ef0002=theirs.ef0002)
    with pytest.raises(VerificationError) as err:
        verify_card(mixed, issuer.trust_store())
    assert err.value.code is ErrorCode.DIGEST_MISMATCH


def test_replayed_files_fail_a_fresh_challenge(
    genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer
) -> None:
    files, _old = genuine
    with pytest.raises(VerificationError) as err:
        verify_card(files, issuer.trust_store(), expected_challenge=secrets.token_bytes(32))
    assert err.value.code is ErrorCode.BAD_PRESENCE_SIGNATURE


def test_presence_signature_from_another_card_is_refused(
    genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer, card: CardFactory, tmp_path
) -> None:
    files, challenge = genuine
    from card_reader.softcard import CardState, SoftCard

    other_card = SoftCard.personalized(Profile.demo(), issuer, CardState.new())
    other = read(other_card, challenge)
    spliced = dataclasses.replace(files, presence_signature=other.presence_signature)
    with pytest.raises(VerificationError) as err:
        verify_card(spliced, issuer.trust_store(), expected_challenge=challenge)
    assert err.value.code is ErrorCode.BAD_PRESENCE_SIGNATURE


def test_another_cards_key_record_cannot_vouch_for_copied_files(
    card: CardFactory, issuer: DevCardIssuer
) -> None:
    """Copied files of one holder, plus EF 0007 and a live signature from the forger's own
    genuine card: the card key is certified for its holder's data only, so this fails."""
    from card_reader.softcard import CardState, SoftCard

    challenge = secrets.token_bytes(32)
    copied = read(card())  # the victim's files, read once, no presence signature
    forger = Profile(
        **{**Profile.demo().__dict__, "my_number": "000000000019", "name": "試験　太郎"}
    )
    own = read(SoftCard.personalized(forger, issuer, CardState.new()), challenge)
    spliced = dataclasses.replace(
        copied, ef0007=own.ef0007, challenge=challenge, presence_signature=own.presence_signature
    )
    with pytest.raises(VerificationError) as err:
        verify_card(spliced, issuer.trust_store(), expected_challenge=challenge)
    assert err.value.code is ErrorCode.BAD_SIGNATURE
    # the forger's own card, whole, still verifies: the refusal is the splice, not the card
    verify_card(own, issuer.trust_store(), expected_challenge=challenge)


def test_missing_presence_signature_is_refused_when_a_challenge_was_issued(
    genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer
) -> None:
    files, challenge = genuine
    bare = dataclasses.replace(files, presence_signature=None)
    with pytest.raises(VerificationError) as err:
        verify_card(bare, issuer.trust_store(), expected_challenge=challenge)
    assert err.value.code is ErrorCode.BAD_PRESENCE_SIGNATURE


def test_tampered_card_key_record_is_refused(
    genuine: tuple[CardFiles, bytes], issuer: DevCardIssuer
) -> None:
    files, challenge = genuine
    ef = bytearray(files.ef0007)
    ef[20] ^= 0x01  # inside the card's public key
    with pytest.raises(VerificationError) as err:
        verify_card(
            dataclasses.replace(files, ef0007=bytes(ef)),
            issuer.trust_store(),
            expected_challenge=challenge,
        )
    assert err.value.code is ErrorCode.BAD_SIGNATURE


def test_trust_store_round_trips_through_its_file(issuer: DevCardIssuer, tmp_path) -> None:
    path = tmp_path / "trust.json"
    issuer.trust_store().save(path)
    loaded = TrustStore.load(path)
    assert loaded.key_ids() == issuer.trust_store().key_ids()
    assert "PRIVATE" not in path.read_text()
