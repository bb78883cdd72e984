"""bin/wait-for-apt, which bin/setup runs before apt-get: a fake apt holds a fake lock file.

The lock is taken the way apt and dpkg take theirs (a POSIX record lock, fcntl), by this
test process; APT_LOCKS points the script at the fake files, so nothing of the machine's
own apt is touched.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bin" / "wait-for-apt"


def wait_for_apt(locks: list[Path], timeout: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    done = subprocess.run(
        [str(SCRIPT), timeout],
        env={**os.environ, "APT_LOCKS": " ".join(map(str, locks))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - t0


@pytest.fixture
def lock_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "lock-frontend"
    path.touch()
    yield path


def test_free_locks_pass_at_once(tmp_path: Path, lock_file: Path) -> None:
    done, took = wait_for_apt([tmp_path / "absent", lock_file], "300")
    assert (done.returncode, done.stderr) == (0, "")
    assert took < 30  # not the 300 s wait (loose: a loaded CI machine starts processes slowly)


def test_a_held_lock_is_waited_for_then_given_up_on_with_its_holder_named(lock_file: Path) -> None:
    with lock_file.open("w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)  # as dpkg does
        done, took = wait_for_apt([lock_file], "2")
    assert done.returncode == 1
    assert 2 <= took < 30
    assert f"{lock_file} is held by process {os.getpid()} (" in done.stderr
    assert f"still held by process {os.getpid()}" in done.stderr and "after 2 s" in done.stderr


def test_the_wait_ends_when_the_other_apt_finishes(lock_file: Path) -> None:
    f = lock_file.open("w")
    fcntl.lockf(f, fcntl.LOCK_EX)
    release = threading.Timer(1.5, f.close)  # closing the file drops the lock
    release.start()
    try:
        done, took = wait_for_apt([lock_file], "60")
    finally:
        release.join()
    assert done.returncode == 0, done.stderr
    assert 1.5 <= took < 30  # it waited, and not for the whole minute
    assert "waiting up to 60 s" in done.stderr


def test_a_bad_timeout_is_a_clear_error(lock_file: Path) -> None:
    done, _ = wait_for_apt([lock_file], "5m")
    assert (done.returncode, done.stderr) == (
        2,
        "wait-for-apt: TIMEOUT must be whole seconds, not '5m'\n",
    )


def test_setup_waits_before_each_apt_get() -> None:
    setup = (ROOT / "bin" / "setup").read_text()
    first_apt = setup.index("apt-get ")
    assert setup.index("bin/wait-for-apt") < first_apt
    assert setup.count("DPkg::Lock::Timeout") == setup.count("apt-get ")


def test_the_readme_warns_that_vpcd_listens_on_every_interface() -> None:
    readme = (ROOT / "README.md").read_text()
    # prominent: before the first screenshot, where a new user reads
    warning = readme[: readme.index("| welcome |")]
    assert "**Warning: the virtual card reader listens on every network interface.**" in warning
    assert "**35963 and 35964**" in warning
    assert "iifname != \"lo\" tcp dport '{ 35963, 35964 }' drop" in warning
    assert "iptables -A INPUT ! -i lo -p tcp -m multiport --dports 35963,35964 -j DROP" in warning
    # and what it says of the driver's configuration is what Debian ships, where it is installed
    conf = Path("/etc/reader.conf.d/vpcd")
    if conf.exists():
        device = next(
            ln.split()[1] for ln in conf.read_text().splitlines() if ln.startswith("DEVICENAME")
        )
        assert device.startswith("/dev/null:")  # server mode: INADDR_ANY, no address to set
        assert f"DEVICENAME {device}" in " ".join(warning.split())
