"""Other tools' exemptions that mean the same as a rofs rule (``peers.yaml``): a kube-linter
``ignore-check.kube-linter.io/<check>`` annotation, checkov's ``checkov.io/skip<N>``, kubeaudit's
``allow-*`` override labels and annotations.  Each becomes a suppression of the rofs rule, with
the reason given and the tool named."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import yaml

from rofs.model import Location, Suppression

_CHECKOV = re.compile(r"checkov\.io/skip\d+")
_KUBEAUDIT = re.compile(r"(?:container\.audit\.kubernetes\.io|container\.kubeaudit\.io)/(?P<container>[^.]+)\.(?P<o>[\w-]+)"
                        r"|(?:audit\.kubernetes\.io|kubeaudit\.io)/pod\.(?P<pod>[\w-]+)")
_KUBE_LINTER = "ignore-check.kube-linter.io/"


@lru_cache(maxsize=1)
def _mapping() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(resources.files("rofs.sources").joinpath("peers.yaml").read_text("utf-8"))


def suppressions(entries: Iterable[tuple[str, str, Location]]) -> list[Suppression]:
    """The suppressions other tools' annotations or labels (*entries*: key, value, where) ask for."""
    peers = _mapping()
    out: list[Suppression] = []
    for key, value, where in entries:
        if key.startswith(_KUBE_LINTER):
            rules = peers["kube-linter"].get(key[len(_KUBE_LINTER):])
            if rules:
                out.append(Suppression(tuple(rules), _reason(value, f"kube-linter {key}"), where))
        elif _CHECKOV.fullmatch(key):
            check, _, reason = value.partition("=")
            rules = peers["checkov"].get(check.strip())
            if rules:
                out.append(Suppression(tuple(rules), _reason(reason, f"checkov {check.strip()}"), where))
        else:
            m = _KUBEAUDIT.fullmatch(key)
            override = m and (m.group("o") or m.group("pod"))
            rules = peers["kubeaudit"].get(override) if override else None
            if m and rules:
                out.append(Suppression(tuple(rules), _reason(value, f"kubeaudit {override}"), where,
                                       container=m.group("container")))
    return out


def _reason(text: str, tool: str) -> str:
    text = text.strip()
    return f"{text} ({tool})" if text else f"exempted for {tool}"
