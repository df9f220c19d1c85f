"""Text for a terminal: from records, files and settings made safe (no control characters, no markup); durations
in the unit a person reads."""
from __future__ import annotations

import re

# C0 and C1 control characters and DEL: an escape sequence in a record must not reach the terminal
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """`text` with every control character (escape sequences, newlines included) shown as `?`."""
    return _CONTROL.sub("?", str(text))


def one_line(text: str) -> str:
    """A message as one terminal line: line breaks become spaces, other control characters `?`."""
    return plain(" ".join(str(text).split()))


def format_duration(seconds: float) -> str:
    """Seconds in the unit a person reads: '12 s', '4 min 10 s', '1 h 40 min', '62 days'."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.2f} s"
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if minutes < 60:
        return f"{int(minutes)} min {int(seconds % 60)} s"
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{days:.0f} days" if days < 730 else f"{days / 365:.0f} years"
