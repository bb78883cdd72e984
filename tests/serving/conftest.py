"""A test CA with a server and a client certificate, for the serving tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from serving import CA


@dataclass
class Pki:
    ca: CA
    server: tuple[Path, Path]
    client: tuple[Path, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = CA(tmp_path_factory.mktemp("pki"), "Test CA")
    return Pki(ca, ca.issue("server", "localhost", server=True), ca.issue("client", "client-7"))
