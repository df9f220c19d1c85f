"""Text from records, files and settings made safe for a terminal: no control characters, no markup."""
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
