"""atheris target B02/B03: the card client against a card that answers anything, then verification.

The input is the card's answers, each with a 2-byte length before it
(``_harness.encode_answers``), replayed to a kiosk's questions in order; seeds are a
genuine card's answers, which read and verify. Only CardError may come out, the
client must stay within a bounded number of APDUs, and what verifies must be the
genuine card's data.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["card_reader"]):
    from card_reader import CardError, InMemoryTransport, TextApplication, verify_card

import _harness

MAX_LEN = 16384


class ReplayCard:
    atr = b"\x3b\x00"

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = iter(answers)

    def execute(self, apdu: bytes) -> bytes:
        return next(self.answers, b"")  # a card with nothing more to say


def test_one_input(data: bytes) -> None:
    genuine = _harness.genuine_card()
    app = TextApplication(InMemoryTransport(ReplayCard(_harness.decode_answers(data))))
    try:
        card = _harness.flow(app)
        verified = verify_card(card, genuine.trust, expected_challenge=_harness.CHALLENGE)
    except CardError as exc:
        assert exc.code and exc.message
    else:
        # the trust store knows one issuer: only what it signed, answering this challenge, passes
        assert verified.presence_checked
        assert card.ef0004 == genuine.files.ef0004
    finally:
        assert app.apdu_count < 500  # no endless GET RESPONSE or re-send loop


def seeds() -> list[bytes]:
    answers = _harness.genuine_card().answers
    return [_harness.encode_answers(a) for a in answers.values()]


if __name__ == "__main__":
    _harness.genuine_card()  # RSA keys made before fuzzing starts, not in the first input
    _harness.main(test_one_input, seeds, MAX_LEN)
