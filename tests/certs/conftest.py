from __future__ import annotations

from pathlib import Path

import pytest

from certs import IssuerKey, KeySets

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
SHC = VECTORS / "smart-health-cards"


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not SHC.is_dir():
        pytest.skip(f"public test vectors not found at {VECTORS} (shared/ sits beside the clone)")
    return SHC


@pytest.fixture(scope="session")
def issuer_key() -> IssuerKey:
    return IssuerKey.generate()


@pytest.fixture
def trusted(issuer_key: IssuerKey) -> KeySets:
    sets = KeySets()
    sets.add_jwks(issuer_key.jwks(), "test issuer")
    return sets
