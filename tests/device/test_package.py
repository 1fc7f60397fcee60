import subprocess
import sys


def test_importing_the_package_does_not_import_gpiozero() -> None:
    # Only the firmware, the simulator and the commands cli runs may pull in gpiozero.
    code = (
        "import sys, loneguard.device, loneguard.device.config, loneguard.device.gestures, "
        "loneguard.device.feedback, loneguard.device.outbox, loneguard.device.link, "
        "loneguard.device.cli; assert 'gpiozero' not in sys.modules, 'gpiozero imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
