"""An independent VDS-NC implementation verifies our sample: npm's @pathcheck/vds-sdk.

It canonicalizes ``data`` with its own JCS library (json-canonicalize), reads the key
from ``cer`` with its own ASN.1 code and checks ``sigvl`` with WebCrypto. It does not
check the chain (that is ours alone). Installed into a temporary folder from the npm
registry; without node, npm or the registry the test skips and says why.

The package's WebCrypto polyfill (isomorphic-webcrypto) pulls in code its own ``esm``
loader cannot parse on current Node, so an npm override puts Node's built-in
WebCrypto in its place; everything that reads the seal stays the package's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from freezegun import freeze_time

from kiosk_sim.cli import main

SDK = "@pathcheck/vds-sdk@0.0.6"  # the version whose verify() takes the seal object
SHIM = """\
const { webcrypto } = require('crypto');
const subtle = {};  // bound: the package's esm loader calls these through a proxy
for (const k of ['importKey', 'exportKey', 'sign', 'verify', 'digest'])
  subtle[k] = webcrypto.subtle[k].bind(webcrypto.subtle);
module.exports = { subtle, getRandomValues: webcrypto.getRandomValues.bind(webcrypto) };
"""
CHECK = """\
const fs = require('fs');
const { verify } = require('@pathcheck/vds-sdk');
verify(JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))).then(
  (r) => console.log(JSON.stringify({ verified: r !== null && r !== undefined })),
  (e) => { console.error(String(e)); process.exit(3); });
"""


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed")
    home = tmp_path_factory.mktemp("vds-sdk")
    (home / "webcrypto").mkdir()
    (home / "webcrypto" / "index.js").write_text(SHIM)
    (home / "webcrypto" / "package.json").write_text(
        json.dumps({"name": "isomorphic-webcrypto", "version": "2.3.8", "main": "index.js"})
    )
    (home / "package.json").write_text(
        json.dumps(
            {
                "private": True,
                "dependencies": {"@pathcheck/vds-sdk": SDK.rsplit("@", 1)[1]},
                "overrides": {"isomorphic-webcrypto": "file:./webcrypto"},
            }
        )
    )
    (home / "check.js").write_text(CHECK)
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=home,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"{SDK} could not be installed within 300 s")
    if done.returncode:
        pytest.skip(f"{SDK} could not be installed: {done.stderr.strip()[-300:]}")
    return home


def node_verifies(sdk: Path, seal: Path) -> bool:
    out = subprocess.run(
        ["node", "check.js", str(seal)], cwd=sdk, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-500:]
    return bool(json.loads(out.stdout.strip().splitlines()[-1])["verified"])


def test_the_pathcheck_sdk_verifies_our_sample_and_refuses_a_changed_one(
    sdk: Path, tmp_path: Path
) -> None:
    with freeze_time("2026-03-31T15:30:00Z"):
        assert main(["cert", "sample", "--out", str(tmp_path), "--overseas", "--doses", "5"]) == 0
    assert node_verifies(sdk, tmp_path / "seal.json")
    seal = json.loads((tmp_path / "seal.json").read_text())
    seal["data"]["msg"]["ve"][0]["vd"][0]["lot"] = "FA5766"
    (tmp_path / "changed.json").write_text(json.dumps(seal))
    assert not node_verifies(sdk, tmp_path / "changed.json")
