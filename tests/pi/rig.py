"""The emulated Raspberry Pi 3B: image, payload and one QEMU boot, driven from the host.

``hw/pi-emulator/build-image`` makes (or finds in its cache) a Debian bookworm arm64 SD image.
``PiRig`` copies it, puts the test's payload on its firmware partition (this checkout, a
wheelhouse for aarch64, the provisioned config and ``hw/pi-emulator/guest-checks.sh``, which the
image's rig unit runs at boot), boots it with ``qemu-system-aarch64 -M raspi3b`` and collects the
console. The guest reaches nothing but what ``guestfwd`` forwards: the host's broker at
10.0.2.100:1883. Its mini-UART is the pty of a fake modem on the host.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loneguard.server.devtools.children import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGE = ROOT / "hw" / "pi-emulator" / "build-image"
GUEST_CHECKS = ROOT / "hw" / "pi-emulator" / "guest-checks.sh"
CACHE = Path(os.environ.get("LONEGUARD_CACHE", Path.home() / ".cache" / "loneguard"))
GUEST_BROKER = "10.0.2.100"
FAT_OFFSET = 4 * 1024 * 1024  # the firmware partition starts at 4 MiB (build-image)
HOST_TOOLS = ("qemu-system-aarch64", "debootstrap", "fdtput", "mcopy", "socat", "sfdisk")
# The guest is Debian bookworm: Python 3.11 on glibc 2.36.
WHEEL_PLATFORMS = [f"manylinux_2_{n}_aarch64" for n in (36, 35, 34, 31, 28, 17)] + [
    "manylinux2014_aarch64"
]
# lgpio where Debian has no python3-lgpio (install/device.sh takes it from PyPI there); setuptools
# builds loneguard's own wheel in the guest.
GUEST_EXTRA = ["lgpio>=0.2.2,<0.3", "setuptools>=68"]


def missing_host_parts() -> str | None:
    """Why this machine cannot run the rig, or None."""
    if os.geteuid() != 0:
        return "building the Pi image needs root (debootstrap, chroot)"
    absent = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if absent:
        return f"missing host tools {', '.join(absent)}: run scripts/setup-pi"
    return None


def build_image() -> Path:
    """The cached image folder (built first if missing: minutes)."""
    result = subprocess.run(
        [str(BUILD_IMAGE)], capture_output=True, text=True, check=False, timeout=3600
    )
    if result.returncode != 0:
        raise RuntimeError(f"build-image failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def device_requirements() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["device"])


def wheelhouse() -> Path:
    """aarch64 wheels for the device's dependencies, cached on their requirements."""
    requirements = device_requirements() + GUEST_EXTRA
    constraints = (ROOT / "constraints.txt").read_text()
    key = hashlib.sha256(("\n".join(requirements) + constraints).encode()).hexdigest()[:16]
    folder = CACHE / "pi-wheelhouse" / key
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            *(str(ROOT / ".venv/bin/python"), "-m", "pip", "download", "-q"),
            *("-d", str(folder), "--only-binary=:all:", *platforms),
            *("--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"),
            *("-c", str(ROOT / "constraints.txt"), *requirements),
        ],
        check=True,
        timeout=600,
    )
    (folder / "done").touch()
    return folder


def source_tar(dest: Path) -> None:
    """The checkout as it is (tracked and new files, not ignored ones)."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    existing = b"\0".join(n for n in names.split(b"\0") if n and (ROOT / n.decode()).exists())
    subprocess.run(
        ["tar", "-cf", str(dest), "--null", "-T", "-"], cwd=ROOT, input=existing, check=True
    )


@dataclass
class Step:
    name: str
    result: str
    detail: str
    at: float


@dataclass
class PiRig:
    """One boot of the emulated Pi with ``payload`` (a folder) as /boot/firmware/rig."""

    image: Path
    workdir: Path
    modem_tty: str
    broker_port: int
    console_log: Path = field(init=False)
    steps: queue.Queue[Step] = field(default_factory=queue.Queue)
    seen: list[Step] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.console_log = self.workdir / "console.log"

    def prepare(self, payload: Path) -> Path:
        """A fresh copy of the SD image with the payload on its firmware partition."""
        sd = self.workdir / "sd.img"
        subprocess.run(["cp", "--sparse=always", str(self.image / "sd.img"), str(sd)], check=True)
        subprocess.run(
            ["mcopy", "-s", "-i", f"{sd}@@{FAT_OFFSET}", str(payload), "::/rig"], check=True
        )
        return sd

    def command(self, sd: Path) -> list[str]:
        partuuid = (self.image / "partuuid").read_text().strip()
        forward = f"guestfwd=tcp:{GUEST_BROKER}:1883-cmd:socat - TCP:127.0.0.1:{self.broker_port}"
        return [
            *("qemu-system-aarch64", "-M", "raspi3b", "-m", "1G", "-smp", "4"),
            *("-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd.img")),
            *("-dtb", str(self.image / "board.dtb")),
            *("-drive", f"file={sd},if=sd,format=raw"),
            "-append",
            # The PL011 is serial1 in the image's device tree, so ttyAMA1 (build-image).
            f"console=ttyAMA1,115200 root=PARTUUID={partuuid}-02 rw rootwait quiet "
            "systemd.getty_auto=0",
            *("-display", "none", "-monitor", "none", "-serial", "stdio"),
            *("-serial", self.modem_tty),
            *("-usb", "-device", "usb-net,netdev=n0"),
            *("-netdev", f"user,id=n0,restrict=on,{forward}"),
        ]

    def boot(self, sd: Path) -> None:
        self.process = subprocess.Popen(
            self.command(sd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Killed with the test run, even a run killed with -9.
            preexec_fn=die_with_parent,
        )
        threading.Thread(target=self._read_console, daemon=True).start()

    def _read_console(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        pattern = re.compile(r"RIG (\S+)(?: (\S+))?(?: (.*))?")
        with open(self.console_log, "a", encoding="utf-8", errors="replace") as log:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                log.write(line + "\n")
                log.flush()
                match = pattern.search(line)
                if match:
                    name, result, detail = match.groups()
                    self.steps.put(Step(name, result or "", detail or "", time.monotonic()))
        self.steps.put(Step("console-closed", "", "", time.monotonic()))

    def wait_step(self, name: str, timeout: float) -> Step:
        """The next step called ``name``; the steps before it are kept in ``seen``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                step = self.steps.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no 'RIG {name}' in {timeout:.0f} s; {self.tail()}") from None
            self.seen.append(step)
            if step.name == name:
                return step
            if step.name == "console-closed":
                raise RuntimeError(f"the guest stopped before 'RIG {name}'; {self.tail()}")

    def lines(self, name: str) -> Iterator[str]:
        for step in self.seen:
            if step.name == name:
                yield f"{step.result} {step.detail}".strip()

    def tail(self, count: int = 60) -> str:
        text = self.console_log.read_text(errors="replace") if self.console_log.exists() else ""
        return "console:\n" + "\n".join(text.splitlines()[-count:])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
