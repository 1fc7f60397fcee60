"""The loneguard device firmware: a Raspberry Pi with a check-in button, a panic button, an LED.

Importing the package and its plain modules (config, gestures, feedback, outbox, link) needs no
gpiozero: only ``firmware``, ``simulator`` and the commands ``cli`` runs touch the pins.
"""
