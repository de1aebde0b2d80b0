"""``rofs generate``: hardened starting points rendered from a profile."""

from __future__ import annotations

from collections.abc import Callable

from rofs.generate import compose, docker_run, dockerfile, kubernetes
from rofs.generate.plan import GenerateOptions, Plan, PlanError, build_plan

FORMATS: dict[str, Callable[[Plan], str]] = {
    "k8s": kubernetes.render,
    "compose": compose.render,
    "docker-run": docker_run.render,
    "dockerfile": dockerfile.render,
}

__all__ = ["FORMATS", "GenerateOptions", "Plan", "PlanError", "build_plan", "render"]


def render(plan: Plan, fmt: str) -> str:
    return FORMATS[fmt](plan)
