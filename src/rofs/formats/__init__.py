"""Output formats for findings.  Formats read Finding fields and compute nothing."""

from __future__ import annotations

from rofs.formats import json_format, sarif, text

FORMATS = {"text": text.render, "json": json_format.render, "sarif": sarif.render}
