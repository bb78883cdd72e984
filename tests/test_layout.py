"""The package layout: each system imports without what it does not use, arrows run one way,
and no package reaches into another's private names (README, "Layout")."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("card_reader", "certs", "kiosk", "issuance_center", "vrs")
SHARED = "serving"
COMMAND = "kiosk_sim"
PACKAGES = (*SYSTEMS, SHARED, COMMAND)

# A fresh interpreter in which every import of a blocked top-level name fails, as it would on a
# machine without that package; then it imports each module given ("pkg.*": the package and
# every module in it, so a system's CLI and API count too).
CHILD = """
import importlib, importlib.abc, pkgutil, sys

blocked = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"blocked: {name}")

sys.meta_path.insert(0, Block())
for name in sys.argv[2:]:
    module = importlib.import_module(name.removesuffix(".*"))
    if name.endswith(".*"):
        for info in pkgutil.walk_packages(module.__path__, module.__name__ + "."):
            importlib.import_module(info.name)
"""


def import_without(blocked: tuple[str, ...], *modules: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(blocked), *modules],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


OTHERS = {s: tuple(o for o in SYSTEMS if o != s) for s in SYSTEMS}
PICTURES = ("zxingcpp", "PIL")  # the QR encoder and reader, and the page's images

CASES = {
    # VRS: a check digit from the card layer, the SHC and seal signing from certs; no reader,
    # no QR library, nothing of the center or the kiosk
    "vrs": (("smartcard", *PICTURES, "kiosk", "issuance_center", COMMAND), ("vrs.*",)),
    # the center: the card layer's verification and wire format; no reader, no kiosk app, no VRS
    "center": (("smartcard", "zxingcpp", "kiosk", "vrs", COMMAND), ("issuance_center.*",)),
    "certs signing": (
        (*PICTURES, "smartcard", *OTHERS["certs"], COMMAND),
        ("certs", "certs.jws", "certs.fhir", "certs.numeric", "certs.vds", "certs.vds_pki"),
    ),
    # the card layer without a reader or the shared infrastructure; its wire model (the kiosk
    # -> center request) needs pydantic only, neither Flask nor flask-openapi3
    "card_reader.mynumber": (
        ("smartcard", *OTHERS["card_reader"], SHARED, COMMAND, "flask", "flask_openapi3"),
        (
            "card_reader.mynumber",
            "card_reader.client",
            "card_reader.verify",
            "card_reader.trust",
            "card_reader.wire",
        ),
    ),
    "kiosk": (("vrs", "issuance_center", COMMAND), ("kiosk.*",)),
    "card_reader": ((*OTHERS["card_reader"], COMMAND), ("card_reader.*",)),
    "certs": ((*OTHERS["certs"], COMMAND), ("certs.*",)),
    "serving imports no system": ((*SYSTEMS, COMMAND), (f"{SHARED}.*",)),
}


@pytest.mark.parametrize("case", CASES)
def test_imports_without_what_it_does_not_use(case: str) -> None:
    blocked, modules = CASES[case]
    run = import_without(blocked, *modules)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_blocker_blocks() -> None:
    """Else every case above would pass for nothing."""
    run = import_without(("smartcard",), "card_reader.pcsc")
    assert run.returncode == 1 and "ImportError: blocked: smartcard" in run.stderr, run.stderr


@pytest.mark.parametrize("package", [*SYSTEMS, SHARED])
def test_each_package_lists_its_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ and [n for n in module.__all__ if not hasattr(module, n)] == []


# --- static: every import in every module, also those inside functions ------------------------


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def package_of(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


Import = ast.Import | ast.ImportFrom


def imports(tree: ast.AST) -> list[tuple[Import, str, list[str]]]:
    """(node, absolute module, names imported from it) of each import of one of the packages."""
    found: list[tuple[Import, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module, [a.name for a in node.names]))
    return [f for f in found if f[1].partition(".")[0] in PACKAGES]


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def cross_package_privates(path: Path, tree: ast.AST) -> list[str]:
    """``from pkg.mod import _x``, ``import pkg._mod``, and ``m._x`` where m is another package's
    module, in a module of a package that is not ``pkg``."""
    own = package_of(path)
    bad, aliases = [], set()
    for node, module, names in imports(tree):
        if module.partition(".")[0] == own:
            continue
        parts = [*module.split("."), *names]
        bad += [f"{path.name}:{node.lineno} {module}: {p}" for p in parts if private(p)]
        aliases |= {a.asname or a.name for a in node.names}  # modules among them: m._x
    for attr in ast.walk(tree):
        if isinstance(attr, ast.Attribute) and private(attr.attr):
            base = ast.unparse(attr.value)
            bad += [f"{path.name}:{attr.lineno} {base}.{attr.attr}"] if base in aliases else []
    return bad


def test_no_package_uses_another_ones_private_names() -> None:
    bad = [b for p in modules() for b in cross_package_privates(p, ast.parse(p.read_text()))]
    assert bad == []


def test_the_private_name_check_catches_each_form() -> None:
    source = (
        "from card_reader.client import _chunk\n"
        "import card_reader._hidden\n"
        "from certs import qr\n"
        "qr._SINGLE\n"
        "from kiosk.flow import _step\n"
    )
    assert cross_package_privates(ROOT / "kiosk" / "x.py", ast.parse(source)) == [
        "x.py:1 card_reader.client: _chunk",
        "x.py:2 card_reader._hidden: _hidden",
        "x.py:4 qr._SINGLE",
    ]
    assert cross_package_privates(ROOT / "card_reader" / "x.py", ast.parse(source)) == [
        "x.py:5 kiosk.flow: _step",
        "x.py:4 qr._SINGLE",
    ]


def arrows(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)}:{node.lineno} imports {module}"
        for p in modules()
        if package_of(p) in packages
        for node, module, _ in imports(ast.parse(p.read_text()))
        if module.partition(".")[0] in forbidden
    ]


def test_no_system_imports_the_command_line() -> None:
    assert arrows(SYSTEMS, (COMMAND,)) == []


def test_shared_infrastructure_imports_no_system() -> None:
    assert arrows((SHARED,), (*SYSTEMS, COMMAND)) == []
