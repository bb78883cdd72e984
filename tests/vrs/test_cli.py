"""`kiosk-sim vrs …` as staff type it: instances, encodings, clear errors, no personal data."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_sim import cli
from vrs import VrsError
from vrs.demo import Resident, csv_rows, residents
from vrs.errors import Code
from vrs.ledger import ledger_text
from vrs.ledger_rows import EXPORT_COLUMNS, IMPORT_COLUMNS

from .conftest import Login

ROOT = Path(__file__).resolve().parents[2]
NIIHAMA = "382051"


def vrs(*args: str | Path) -> int:
    return cli.main(["vrs", *map(str, args)])


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    folder = tmp_path / "vrs"
    assert vrs("init", "--instance", folder) == 0
    assert vrs("add-municipality", NIIHAMA, "新居浜市", "Niihama City", "--prefecture", "愛媛県",
               "--instance", folder) == 0  # fmt: skip
    return folder


def people(n: int, name: str | None = None) -> list[Resident]:
    out = list(residents(n, seed=3))
    for r in out:
        r.code = NIIHAMA
    if name is not None:
        out[0].name = name
    return out


def ledger(rs: list[Resident]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(IMPORT_COLUMNS)
    rng = random.Random(1)
    for r in rs:
        w.writerows(csv_rows(r, rng))
    return buf.getvalue()


def exported_names(folder: Path, tmp_path: Path) -> set[str]:
    out = tmp_path / "export.csv"
    assert vrs("export", NIIHAMA, out, "--instance", folder) == 0
    with out.open(encoding="utf-8", newline="") as f:
        return {row["name"] for row in csv.DictReader(f)}


def test_commands_refuse_a_folder_without_an_instance_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    csv_file = tmp_path / "l.csv"
    csv_file.write_text(ledger(people(1)))
    for folder in (tmp_path / "no-such-folder", empty):
        for command in (
            ["import", NIIHAMA, csv_file],
            ["export", NIIHAMA, tmp_path / "out.csv"],
            ["create-admin", NIIHAMA, "admin1"],
            ["add-municipality", NIIHAMA, "新居浜市", "Niihama City", "--prefecture", "愛媛県"],
            ["serve", "--port", "0", "--site-port", "-1"],
            ["erase", NIIHAMA],
        ):
            assert vrs(*command, "--instance", folder) == 1, command
            err = capsys.readouterr().err
            assert err.startswith(f"error: {folder} holds no VRS instance"), err
            assert "kiosk-sim vrs init" in err
    assert not (tmp_path / "no-such-folder").exists()
    assert list(empty.iterdir()) == []
    assert not (tmp_path / "out.csv").exists()


def test_init_makes_an_instance_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "vrs"
    assert vrs("init", "--instance", folder) == 0
    assert capsys.readouterr().out == f"VRS instance created in {folder}\n"
    key = (folder / "master.key").read_bytes()
    assert vrs("init", "--instance", folder) == 1  # never a second master key over the first
    assert "already holds a VRS instance" in capsys.readouterr().err
    assert (folder / "master.key").read_bytes() == key


def test_the_help_describes_every_column_and_its_example_row_imports(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        vrs("import", "--help")
    assert done.value.code == 0
    text = capsys.readouterr().out
    for column in IMPORT_COLUMNS:
        assert f"\n  {column} " in text, column
    assert "Shift_JIS (CP932)" in text and "YYYY-MM-DD" in text
    header = ",".join(IMPORT_COLUMNS)
    example = text.split(f"  {header}\n", 1)[1].splitlines()[0].strip()
    (tmp_path / "example.csv").write_text(f"{header}\n{example}\n", encoding="utf-8")
    assert vrs("import", NIIHAMA, tmp_path / "example.csv", "--instance", instance) == 0
    assert capsys.readouterr().out == "imported 1 person\n"

    (tmp_path / "two.csv").write_text(ledger(people(2)), encoding="utf-8")
    assert vrs("import", NIIHAMA, tmp_path / "two.csv", "--instance", instance) == 0
    assert capsys.readouterr().out == "imported 2 persons\n"


@pytest.mark.parametrize(
    "encoding,option",
    [
        ("utf-8", None),
        ("utf-8-sig", None),  # with a BOM, as Excel writes it
        ("cp932", None),
        ("cp932", "shift_jis"),
        ("utf-8-sig", "utf-8"),
    ],
)
def test_utf8_and_shift_jis_ledgers_import_the_same_names(
    instance: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoding: str,
    option: str | None,
) -> None:
    rs = people(3, name="髙橋\u3000花子")  # 髙: CP932's IBM extension, not in plain Shift_JIS
    (tmp_path / "l.csv").write_bytes(ledger(rs).encode(encoding))
    extra = ["--encoding", option] if option else []
    assert vrs("import", NIIHAMA, tmp_path / "l.csv", *extra, "--instance", instance) == 0
    assert capsys.readouterr().out == "imported 3 persons\n"
    # not one mojibake name sealed: the export gives back exactly the names of the file
    assert exported_names(instance, tmp_path) == {r.name for r in rs}


@pytest.mark.parametrize(
    "data,option,words",
    [
        # UTF-16 (Windows "Unicode"): neither UTF-8 nor CP932
        (lambda t: t.encode("utf-16"), None, "neither UTF-8 nor Shift_JIS (CP932) text"),
        # a CP932 file said to be UTF-8: no guess overrides what the user chose
        (lambda t: t.encode("cp932"), "utf-8", "the file is not UTF-8 text (line 2)"),
        (lambda t: t.encode("utf-8"), "latin-1", "'latin-1' is not an encoding a ledger may have"),
        (lambda t: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), None, "neither"),
        # binary, yet valid UTF-8 and CP932: its NUL bytes give it away
        (lambda t: b"\x00\x01\x02\x03" * 64, None, "neither UTF-8 nor Shift_JIS (CP932)"),
    ],
    ids=["utf-16", "cp932-said-utf8", "latin-1", "binary", "binary-with-nul"],
)
def test_other_encodings_are_refused_in_words_that_hold_no_row(
    instance: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data: object,
    option: str | None,
    words: str,
) -> None:
    rs = people(3)
    (tmp_path / "l.csv").write_bytes(data(ledger(rs)))  # type: ignore[operator]
    extra = ["--encoding", option] if option else []
    assert vrs("import", NIIHAMA, tmp_path / "l.csv", *extra, "--instance", instance) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("error: ") and words in out.err
    for r in rs:
        assert not [s for s in r.secrets() if s in out.err]
    assert exported_names(instance, tmp_path) == set()


def test_files_and_municipalities_that_are_not_there_are_clear_errors(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vrs("import", NIIHAMA, tmp_path / "missing.csv", "--instance", instance) == 1
    assert (
        capsys.readouterr().err
        == f"error: cannot read {tmp_path / 'missing.csv'}: No such file or directory\n"
    )
    assert vrs("import", NIIHAMA, tmp_path, "--instance", instance) == 1  # a folder
    assert capsys.readouterr().err.startswith(f"error: cannot read {tmp_path}: ")
    assert vrs("export", "999999", tmp_path / "x.csv", "--instance", instance) == 1
    assert (
        capsys.readouterr().err
        == f"error: no municipality 999999 in {instance} (it has {NIIHAMA})\n"
    )
    assert not (tmp_path / "x.csv").exists()  # no empty file left behind
    assert vrs("import", "999999", tmp_path / "missing.csv", "--instance", instance) == 1
    assert "no municipality 999999" in capsys.readouterr().err
    out = tmp_path / "no-such-dir" / "x.csv"
    assert vrs("export", NIIHAMA, out, "--instance", instance) == 1
    assert capsys.readouterr().err == f"error: cannot write {out}: No such file or directory\n"


def test_errors_are_words_on_a_terminal_and_json_with_json(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ledger(people(2)).splitlines()
    bad = rows[0] + "\n" + rows[1].replace(",2,", ",7,", 1) + "\n"  # sex 7
    (tmp_path / "bad.csv").write_text(bad)
    assert vrs("import", NIIHAMA, tmp_path / "bad.csv", "--instance", instance) == 1
    out = capsys.readouterr()
    assert out.err == (
        "error: 1 row(s) rejected; nothing was imported\n  row 2: sex is not 1, 2, 9 or 0\n"
    )
    assert vrs("import", NIIHAMA, tmp_path / "bad.csv", "--instance", instance, "--json") == 1
    out = capsys.readouterr()
    assert json.loads(out.out) == {
        "error": "import_rejected",
        "message": "1 row(s) rejected; nothing was imported",
        "details": [{"row": 2, "reason": "sex is not 1, 2, 9 or 0"}],
    }
    assert out.err == ""


def test_a_terminal_user_sees_no_traceback(tmp_path: Path) -> None:
    """The same through a real process: what a user typing the command sees."""
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    folder = tmp_path / "vrs"
    assert vrs("init", "--instance", folder) == 0
    for args in (["import", NIIHAMA, "missing.csv"], ["export", "999999", "x.csv"]):
        done = subprocess.run(
            [sys.executable, "-m", "kiosk_sim.cli", "vrs", *args, "--instance", str(folder)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_export_leaves_out_the_my_number_and_says_what_it_is_for(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = people(2)
    (tmp_path / "l.csv").write_text(ledger(rs))
    assert vrs("import", NIIHAMA, tmp_path / "l.csv", "--instance", instance) == 0
    capsys.readouterr()
    assert vrs("export", NIIHAMA, tmp_path / "e.csv", "--instance", instance) == 0
    assert "not re-import" in capsys.readouterr().out
    text = (tmp_path / "e.csv").read_text()
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    assert not [r.my_number for r in rs if r.my_number in text]
    with pytest.raises(SystemExit):
        vrs("export", "--help")
    assert "review and statistics, not for importing again" in " ".join(
        capsys.readouterr().out.split()
    )


def test_the_staff_web_import_decodes_as_the_command_does(app: Flask, staff: Login) -> None:
    client = staff(NIIHAMA, "administrator")
    rs = people(2, name="髙橋\u3000次郎")
    body = ledger(rs).encode("cp932")
    resp = client.post("/staff/import", data=body, content_type="text/csv")
    assert (resp.status_code, resp.json) == (200, {"imported": 2})
    names = {
        row["name"] for row in csv.DictReader(io.StringIO(client.get("/staff/export.csv").text))
    }
    assert "髙橋\u3000次郎" in names
    resp = client.post(
        "/staff/import", data=ledger(people(1)).encode("utf-16"), content_type="text/csv"
    )
    assert resp.status_code == 422 and "neither UTF-8 nor Shift_JIS" in resp.json["message"]


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8")),
        st.text(alphabet="髙橋花子見本,\n0123", max_size=200).map(lambda t: t.encode("cp932")),
    ),
    encoding=st.sampled_from([None, "utf-8", "cp932", "sjis", "latin-1"]),
)
def test_any_bytes_become_text_or_a_vrs_error_and_nothing_else(
    data: bytes, encoding: str | None
) -> None:
    try:
        with ledger_text(io.BytesIO(data), encoding) as text:
            decoded = text.read()
    except VrsError as exc:
        assert exc.code is Code.IMPORT_REJECTED
        return
    # what passed is the file's exact text in one of the two encodings
    assert decoded in {data.decode(c, "replace") for c in ("utf-8-sig", "cp932")}
    assert "\x00" not in decoded


def test_erase_removes_one_resident_by_my_number_with_its_log_entry(
    instance: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vrs import open_vrs

    rs = people(3)
    (tmp_path / "l.csv").write_text(ledger(rs))
    assert vrs("import", NIIHAMA, tmp_path / "l.csv", "--instance", instance) == 0
    capsys.readouterr()

    def erase(number: str, *more: str) -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(number + "\n"))
        return vrs("erase", *more, "--instance", instance)

    assert erase(rs[1].my_number, NIIHAMA, "--json") == 0
    person = json.loads(capsys.readouterr().out)["erased"]
    assert exported_names(instance, tmp_path) == {rs[0].name, rs[2].name}
    area = open_vrs(instance).area(NIIHAMA)
    assert area.find(rs[1].my_number) is None and area.find(rs[0].my_number) is not None
    log = area.vrs.storage.oplog(NIIHAMA, 10)
    assert [(e["actor"], e["target"]) for e in log if e["action"] == "records.erase"] == [
        ("cli", person)
    ]
    for number, code, words in (
        (rs[1].my_number, NIIHAMA, f"error: no such person in municipality {NIIHAMA}\n"),
        (
            rs[0].my_number[:-1],
            NIIHAMA,
            "error: that is not a My Number (12 digits, check digit)\n",
        ),
        (rs[0].my_number, "382019", "error: no municipality 382019 in "),
    ):
        assert erase(number, code) == 1
        err = capsys.readouterr().err
        assert err.startswith(words), err
        assert rs[0].my_number not in err and rs[1].my_number not in err
    assert area.find(rs[0].my_number) is not None
