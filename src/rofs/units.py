"""Sizes: Kubernetes quantities (``64Mi``, ``1G``, ``500M``) and Docker sizes (``64m``, ``1g``).

The model keeps sizes as a number of bytes; these functions read and write the
spellings each platform uses.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal

_K8S_SUFFIX: dict[str, int | Decimal] = {
    "": 1, "m": Decimal("0.001"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
# The quantity grammar of k8s.io/apimachinery (resource.Quantity): a number, then a binary
# suffix, a decimal one (m is milli) or a decimal exponent (1e3, 1.5E9).
_K8S_RE = re.compile(r"^\s*\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?\s*$")

# Docker/Compose sizes: b, k, m, g (optionally with a trailing "b"), powers of 1024.
_DOCKER_SUFFIX = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_DOCKER_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?\s*$", re.IGNORECASE)


class SizeError(ValueError):
    """A size that cannot be read."""


def parse_quantity(text: str | float, exponents: bool = True) -> int:
    """Parse a Kubernetes quantity into bytes: ``'64Mi'`` -> 67108864.  With *exponents* False, the
    spellings a person types for a size only (no ``1e3``, no milli: ``1m`` is not a thousandth)."""
    if isinstance(text, bool):
        raise SizeError(f"not a size: {text!r}")
    if isinstance(text, (int, float)):
        return int(text)
    match = _K8S_RE.match(text)
    if not match:
        raise SizeError(f"not a Kubernetes quantity: {text!r} (use e.g. 64Mi, 1Gi, 500M)")
    number, suffix, exponent = match.groups()
    if not exponents and (exponent or suffix == "m" or "." in number and not suffix):
        raise SizeError(f"not a size: {text!r}")
    if exponent and abs(int(exponent)) > 24:
        raise SizeError(f"not a size this tool can hold: {text!r}")
    value = Decimal(number) * (Decimal(10) ** int(exponent) if exponent else _K8S_SUFFIX[suffix or ""])
    return int(value.to_integral_value(rounding=ROUND_CEILING))  # as Quantity.Value(): rounded up


def parse_docker_size(text: str | int) -> int:
    """Parse a Docker/Compose size into bytes: ``'64m'`` -> 67108864; plain numbers are bytes."""
    if isinstance(text, bool):
        raise SizeError(f"not a size: {text!r}")
    if isinstance(text, int):
        return text
    match = _DOCKER_RE.match(str(text))
    if not match:
        # Compose also accepts Kubernetes-looking spellings in practice; be lenient.
        try:
            return parse_quantity(str(text))
        except SizeError:
            raise SizeError(f"not a size: {text!r} (use e.g. 64m, 1g)") from None
    number, suffix = match.groups()
    return int(float(number) * _DOCKER_SUFFIX[suffix.lower()])


def parse_size(text: str | int) -> int:
    """Parse either spelling (profiles and CLI options accept both)."""
    try:
        return parse_quantity(text, exponents=False)
    except SizeError:
        return parse_docker_size(text)


def format_quantity(size: int) -> str:
    """Bytes to the shortest exact binary Kubernetes quantity: 67108864 -> ``'64Mi'``."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _K8S_SUFFIX[suffix]
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def format_docker_size(size: int) -> str:
    """Bytes to a Docker size: 67108864 -> ``'64m'``."""
    for suffix in ("g", "m", "k"):
        unit = _DOCKER_SUFFIX[suffix]
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def human(size: int | None) -> str:
    """A size for people to read in tables."""
    if size is None:
        return "-"
    return format_quantity(size) if size >= 1024 else f"{size} B"
