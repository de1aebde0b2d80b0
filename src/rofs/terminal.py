"""Text that reaches a terminal: names and log lines shown as they are, control bytes never.

A path is the kernel's bytes and a log line is whatever a program printed: either can hold a
newline (which would forge a report line), ESC or OSC sequences (which a terminal obeys) or bytes
that are not UTF-8.  :func:`printable` shows them escaped (``\\n``, ``\\x1b``, ``\\xff``) and keeps
every printable character, accented letters included.  JSON output keeps the exact value.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\x1b"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """*text* with control characters, bidi overrides and undecodable bytes escaped."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text
