"""The alarm sound, made here (no downloaded media): a two-tone beep as a 16-bit mono WAV."""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import cache

RATE = 16_000


@cache
def alarm_wav() -> bytes:
    frames = bytearray()
    for freq in (880.0, 660.0, 880.0, 660.0):
        for i in range(int(RATE * 0.25)):
            envelope = min(1.0, i / 200, (RATE * 0.25 - i) / 200)  # no clicks at the edges
            sample = 0.6 * envelope * math.sin(2 * math.pi * freq * i / RATE)
            frames += struct.pack("<h", int(sample * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return out.getvalue()
