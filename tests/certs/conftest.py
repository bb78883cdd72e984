from __future__ import annotations

from pathlib import Path

import pytest

from certs import IssuerKey, KeySets
from tests import hypothesis_profiles  # noqa: F401  (loads the campaign profile on request)

# the shared vectors sit beside the clone; the project never copies them in
VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
SHC = VECTORS / "smart-health-cards"


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not SHC.is_dir():
        pytest.skip(f"public test vectors not found at {VECTORS.resolve()} (../shared is absent)")
    return SHC


@pytest.fixture(scope="session")
def issuer_key() -> IssuerKey:
    return IssuerKey.generate()


@pytest.fixture
def trusted(issuer_key: IssuerKey) -> KeySets:
    sets = KeySets()
    sets.add_jwks(issuer_key.jwks(), "test issuer")
    return sets


@pytest.fixture
def spec_keys(vectors: Path) -> KeySets:
    """The spec's example issuer, as it serves itself (key set and revocation list)."""
    keys = KeySets()
    keys.add_path(vectors / "issuer")
    return keys
