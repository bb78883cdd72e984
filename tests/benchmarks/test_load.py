"""benchmarks/load.py: its CPU accounting, its personal-data scan, and one short real run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from card_reader.softcard import Profile
from kiosk_sim import security

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_bench", ROOT / "benchmarks" / "load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


BURN_IN_A_THREAD = """
import sys, threading, time
def burn():
    t0 = time.thread_time()
    while time.thread_time() - t0 < 0.5:
        pass
t = threading.Thread(target=burn)
t.start()
t.join()
print("burnt", flush=True)
sys.stdin.read()
"""


def test_cpu_time_counts_the_threads_of_a_process_not_only_its_main_thread(
    load: ModuleType,
) -> None:
    # the servers do their work in worker threads: a main-thread figure would read ~0
    proc = subprocess.Popen(
        [sys.executable, "-c", BURN_IN_A_THREAD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
        assert 450 <= load.cpu_ms(proc.pid) < 5000
    finally:
        proc.kill()
        proc.wait()


def test_the_scan_finds_personal_data_the_center_or_a_kiosk_wrote(
    load: ModuleType, tmp_path: Path
) -> None:
    profile = Profile.demo()
    inst = load.Instance(tmp_path, None, [], None, None, [profile])
    (tmp_path / "vrs" / "demo").mkdir(parents=True)
    # VRS's own store and the demo profiles hold personal data by design: not counted
    (tmp_path / "vrs" / "demo" / "card.json").write_text(profile.name + profile.my_number)
    (tmp_path / "center.log").write_text("POST /v1/sessions/<sid>/card status=200\n")
    assert load.scan(inst)["personal_data_found"] == 0
    (tmp_path / "kiosks.log").write_text(f"WARNING born {profile.birth_date}\n")
    assert load.scan(inst)["personal_data_found"] == 1
    (tmp_path / "center.log").write_text(f"oops {profile.my_number}\n", encoding="utf-8")
    assert load.scan(inst)["personal_data_found"] == 2


def test_a_short_run_issues_through_kiosk_processes_and_reports_what_security_reads(
    tmp_path: Path,
) -> None:
    out = tmp_path / "load.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load.py"),
            "--kiosks",
            "3",
            "--seconds",
            "2",
            "--warmup",
            "1",
            "--idle-issuances",
            "5",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    point = figures["point"]
    assert figures["issued"] > 0 and figures["failed"] == 0
    assert figures["personal_data_found"] == 0 and figures["files_searched"] > 0
    assert point["kiosk_processes"] == min(3, os.cpu_count() or 1)  # one per CPU at most
    cpu = point["cpu_ms_per_issuance"]
    assert cpu["center"] > 0 and cpu["vrs"] > 0 and cpu["kiosks"] > 0
    assert 0 < point["crypto"]["issuance_ms"] < cpu["center"] + cpu["vrs"]
    assert figures["idle"]["issuances"] == 5 and figures["idle"]["failed"] == 0
    report = security.markdown(
        {"tests": [], "when": "today", "hypothesis_profile": "default"}, [], figures, None
    )
    assert f"issued: {figures['issued']}, failed: 0" in report


def test_a_paced_run_starts_visits_on_schedule_not_back_to_back(tmp_path: Path) -> None:
    # 3 kiosks at 15 visits/s for 3 s: about 45 visits, where back to back they would do
    # several hundred; the latency of each counts from its scheduled start
    out = tmp_path / "load.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load.py"),
            *("--kiosks", "3", "--rate", "15", "--seconds", "3", "--warmup", "1"),
            *("--idle-issuances", "0", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    point = json.loads(out.read_text())["point"]
    assert point["rate"] == 15 and point["failed"] == 0
    assert 30 <= point["issued"] <= 60, point["issued"]
    assert "paced at 15/s" in run.stdout
