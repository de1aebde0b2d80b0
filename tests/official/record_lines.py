"""Record the failure lines the rebuilt official images print, for explain's scored set.

Runs tests/test_official_images.py's "each required path left read-only" cases (each image
under its profile with one required path read-only) and keeps every line `rofs explain`
traced to that path.  They are written to tests/data/logs/recorded.yaml with the image, the
path that was read-only and the cause, and tests/test_explain_lines.py scores them with no
--app and no --layout, as a user piping a log would.  Run again after a profile or recipe
changes:

    python tests/official/record_lines.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "logs" / "recorded.yaml"

HEADER = """\
# Lines printed by the rebuilt official images (tests/official/NAME), each run under its profile
# with one required path read-only (tests/test_official_images.py), and traced by `rofs explain`
# to that path.  Written by tests/official/record_lines.py; scored by tests/test_explain_lines.py
# with no --app and no --layout.  `path` is the path that was read-only: the mount the line needs.
"""


def main() -> int:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as handle:
        record = handle.name
    env = {**os.environ, "ROFS_RECORD_LINES": record}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_official_images.py", "-k", "left_read_only"], cwd=REPO, env=env)
    rows = [json.loads(line) for line in Path(record).read_text(encoding="utf-8").splitlines() if line]
    os.unlink(record)
    seen: set[tuple[str, str]] = set()
    lines = []
    for row in rows:
        key = (row["image"], row["line"])
        if key in seen:
            continue
        seen.add(key)
        lines.append({"line": row["line"], "image": row["image"], "app": row["image"], "cause": row["cause"],
                      "path": row["path"],
                      "source": f"tests/official/{row['image']} rebuilt and run with {row['path']} read-only"})
    OUT.write_text(HEADER + yaml.safe_dump({"lines": lines}, sort_keys=False, allow_unicode=True, width=1000),
                   encoding="utf-8")
    print(f"{len(lines)} lines from {len({r['image'] for r in rows})} images -> {OUT.relative_to(REPO)}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
