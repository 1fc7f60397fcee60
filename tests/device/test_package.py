import subprocess
import sys


def test_importing_the_package_does_not_import_gpiozero() -> None:
    # The hub imports device.modem; only app, simulator and cli may pull in gpiozero.
    code = (
        "import sys, device, device.config, device.gestures, device.feedback, device.outbox, "
        "device.link, device.cli; assert 'gpiozero' not in sys.modules, 'gpiozero imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
