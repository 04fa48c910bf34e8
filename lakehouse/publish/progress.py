"""Progress lines: the publishing steps say what they are working on through a callable they are given."""
from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[str], None]


def to_stderr(text: str) -> None:
    """The default progress: one line on stderr, flushed at once (stdout stays for a command's output)."""
    print(text, file=sys.stderr, flush=True)
