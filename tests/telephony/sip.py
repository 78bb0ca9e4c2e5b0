"""Running Kamailio and SIPp from a test: a registrar on a free loopback port, phones as
SIPp scenarios (tests/telephony/sipp/*.xml), every wait bounded and none fixed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

from django.db import connection

SCENARIOS = Path(__file__).parent / "sipp"
# Generous: the check must hold on a loaded two-core machine, and a passing run takes
# a fraction of these.
START_TIMEOUT = 60
SIPP_TIMEOUT = 60


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or next(
        (path for path in ("/usr/sbin/kamailio",) if os.access(path, os.X_OK)), None
    )


def sipp_binary() -> str | None:
    return shutil.which("sipp")


def missing_tools() -> list[str]:
    missing = []
    if kamailio_binary() is None:
        missing.append("kamailio (Debian package kamailio)")
    if sipp_binary() is None:
        missing.append("sipp (Debian package sip-tester)")
    return missing


def free_udp_ports(count: int) -> list[int]:
    """Distinct loopback UDP ports free right now (held together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class DirectorySnapshot:
    """Kamailio must read the rows the services wrote. On PostgreSQL it reads the test
    database itself. The SQLite test database lives in this process's memory, so after
    each change it is copied whole into a file with SQLite's online backup (same tables,
    same rows) and Kamailio reads that file."""

    def __init__(self, directory: Path):
        self.path = directory / "trunkline-snapshot.sqlite3"
        self.is_copy = connection.vendor == "sqlite"

    def settings_dict(self) -> dict:
        if self.is_copy:
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(self.path)}
        return connection.settings_dict

    def publish(self) -> None:
        if not self.is_copy:
            return  # the services committed; Kamailio sees their rows already
        connection.ensure_connection()
        target = sqlite3.connect(self.path)
        try:
            connection.connection.backup(target)
        finally:
            target.close()


class Kamailio:
    def __init__(self, config: Path, port: int, workdir: Path):
        self.port = port
        self.log_path = workdir / "kamailio.log"
        self._log = self.log_path.open("wb")
        command = [kamailio_binary(), "-DD", "-E", "-f", str(config), "-m", "64", "-M", "8"]
        command += ["-w", str(workdir), "-Y", str(workdir)]
        # Its own process group, so stopping it takes its worker processes along.
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def logged(self, text: str) -> bool:
        """Whether Kamailio logged `text`: its refusals say why, before they are sent."""
        self._log.flush()
        return text in self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Until a worker answers an OPTIONS ping (its database connection is open by
        then), or the deadline passes, or Kamailio exits."""
        deadline = time.monotonic() + START_TIMEOUT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.5)
            local = probe.getsockname()[1]
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"kamailio exited ({self.process.returncode}):\n{self.log()}"
                    )
                probe.sendto(_options(self.port, local), ("127.0.0.1", self.port))
                try:
                    reply = probe.recv(65535)
                except TimeoutError:
                    continue
                if reply.startswith(b"SIP/2.0 200"):
                    return
        raise AssertionError(f"kamailio did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()


def _options(port: int, local: int) -> bytes:
    branch = "z9hG4bK" + uuid.uuid4().hex
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};rport;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:ping@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Phone:
    """One SIP phone: a device's credentials and the UDP port it uses."""

    def __init__(self, *, username: str, password: str, domain: str, port: int):
        self.username = username
        self.password = password
        self.domain = domain
        self.port = port


def sipp_command(
    scenario: str, *, kamailio: Kamailio, phone: Phone, workdir: Path, **keys: str
) -> list[str]:
    command = [sipp_binary(), f"127.0.0.1:{kamailio.port}", "-sf", str(SCENARIOS / scenario)]
    command += ["-m", "1", "-i", "127.0.0.1", "-p", str(phone.port), "-t", "u1", "-nostdin"]
    command += ["-timeout", f"{SIPP_TIMEOUT}s", "-timeout_error", "-trace_err"]
    command += ["-au", phone.username, "-ap", phone.password]
    for name, value in {"user": phone.username, "domain": phone.domain, **keys}.items():
        command += ["-key", name, value]
    return command


def sipp_run(scenario: str, *, kamailio: Kamailio, phone: Phone, workdir: Path, **keys) -> None:
    """Play the scenario once; it passes when SIPp exits 0 (every message as scripted)."""
    command = sipp_command(scenario, kamailio=kamailio, phone=phone, workdir=workdir, **keys)
    result = subprocess.run(
        command,
        cwd=workdir,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=SIPP_TIMEOUT + 60,
    )
    if result.returncode != 0:
        raise AssertionError(
            failure(scenario, phone, result.returncode, result.stdout, workdir, kamailio)
        )


def sipp_start(scenario: str, *, kamailio: Kamailio, phone: Phone, workdir: Path, **keys):
    """Start a scenario that waits for a call; `sipp_finish` collects its verdict."""
    command = sipp_command(scenario, kamailio=kamailio, phone=phone, workdir=workdir, **keys)
    return subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def sipp_finish(process, scenario: str, *, kamailio: Kamailio, phone: Phone, workdir: Path):
    try:
        output, _ = process.communicate(timeout=SIPP_TIMEOUT + 60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    if process.returncode != 0:
        raise AssertionError(
            failure(scenario, phone, process.returncode, output, workdir, kamailio)
        )


def failure(scenario, phone, code, output, workdir, kamailio) -> str:
    # Never the command line: it carries the device's password.
    errors = "\n".join(
        path.read_text(errors="replace")[-3000:] for path in sorted(workdir.glob("*_errors.log"))
    )
    stdout = (output or b"").decode(errors="replace")[-3000:]
    return (
        f"sipp {scenario} as {phone.username}@{phone.domain} exited {code}\n"
        f"--- sipp output ---\n{stdout}\n--- sipp errors ---\n{errors}\n"
        f"--- kamailio ---\n{kamailio.log()}"
    )
