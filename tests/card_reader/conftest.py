"""Shared fixtures of the card-layer tests: one dev issuer and one card key per session.

RSA key generation is the slow part, so keys are made once; every test gets
its own card (its own volatile and persistent state) around them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from tests import hypothesis_profiles  # noqa: F401  (loads the campaign profile on request)

CardFactory = Callable[..., SoftCard]


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development instance folder; the issuer lives in its ``card-issuer``."""
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def issuer(instance_dir: Path) -> DevCardIssuer:
    return DevCardIssuer.of_instance(instance_dir)


@pytest.fixture(scope="session")
def card_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture
def profile() -> Profile:
    return Profile.demo()


@pytest.fixture
def card(issuer: DevCardIssuer, card_key: rsa.RSAPrivateKey, profile: Profile) -> CardFactory:
    """``card(profile=None, *, variant=None, state_path=None, tries_left=3) -> SoftCard``.

    ``state_path``: the card's state file; loaded when it exists, else created
    with the session's card key (no key generation).
    """

    def make(
        holder: Profile | None = None,
        *,
        variant: str | None = None,
        state_path: Path | None = None,
        tries_left: int = 3,
    ) -> SoftCard:
        holder = holder or profile
        if variant is not None:
            holder = dataclasses.replace(holder, variant=variant)
        if state_path is not None and state_path.exists():
            state = CardState.load(state_path)
        else:
            state = CardState(card_key, tries_left, state_path)
            state.save()
        return SoftCard.personalized(holder, issuer, state)

    return make
