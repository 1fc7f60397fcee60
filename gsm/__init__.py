"""The GSM modem, shared by the hub and the device: AT transport and unsolicited results
(``at``), SMS (``sms``), GNSS positions (``gnss``), phone numbers kept out of logs (``redact``), the
driver that ties them together (``modem``) and a fake modem on a pty for tests and the simulator
(``fake``). It imports neither the device firmware nor the hub."""
