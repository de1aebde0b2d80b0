"""The rule registry: every rule, by ID, in one explicit list.

A rule is a module with a docstring (What it does / Why is this bad? / Example /
Use instead / Fix), ``META`` (:class:`rofs.model.RuleMeta`) and
``check(workload, ctx) -> Iterator[Finding]``.  IDs never change.
"""

from __future__ import annotations

from types import ModuleType

from rofs.rules import (
    ro101_writable_root_filesystem,
    ro102_misplaced_read_only_setting,
    ro103_privilege_escalation_allowed,
    ro104_may_run_as_root,
    ro105_capabilities_not_dropped,
    ro201_missing_writable_path,
    ro202_persistent_data_on_ephemeral_storage,
    ro203_unbounded_ephemeral_volume,
    ro204_temp_dir_not_writable,
    ro205_undefined_volume,
    ro301_shell_form_command,
    ro302_root_user,
    ro303_runtime_install,
    ro901_suppression_without_reason,
)
from rofs.rules.common import Context

RULES: dict[str, ModuleType] = {
    module.META.id: module
    for module in (
        ro101_writable_root_filesystem,
        ro102_misplaced_read_only_setting,
        ro103_privilege_escalation_allowed,
        ro104_may_run_as_root,
        ro105_capabilities_not_dropped,
        ro201_missing_writable_path,
        ro202_persistent_data_on_ephemeral_storage,
        ro203_unbounded_ephemeral_volume,
        ro204_temp_dir_not_writable,
        ro205_undefined_volume,
        ro301_shell_form_command,
        ro302_root_user,
        ro303_runtime_install,
        ro901_suppression_without_reason,
    )
}
SUPPRESSION_RULE = "RO901"

__all__ = ["RULES", "SUPPRESSION_RULE", "Context", "fixable", "get", "resolve"]


def fixable() -> set[str]:
    """IDs of the rules whose remedies `rofs fix` writes (from each rule's metadata)."""
    return {rid for rid, module in RULES.items() if module.META.fixable}


def get(key: str) -> ModuleType | None:
    """A rule by ID (``RO101``, any case) or name (``writable-root-filesystem``)."""
    upper = key.strip().upper()
    if upper in RULES:
        return RULES[upper]
    for module in RULES.values():
        if module.META.name == key.strip().lower():
            return module
    return None


def resolve(keys: list[str] | tuple[str, ...]) -> set[str]:
    """Rule IDs for --select/--ignore values: IDs, names, or ID prefixes (``RO2`` = every RO2xx)."""
    ids: set[str] = set()
    for key in keys:
        for part in key.split(","):
            part = part.strip()
            if not part:
                continue
            if part.upper() == "ALL":
                ids |= set(RULES)
                continue
            module = get(part)
            if module is not None:
                ids.add(module.META.id)
                continue
            prefixed = {rid for rid in RULES if rid.startswith(part.upper())}
            if not prefixed:
                raise KeyError(part)
            ids |= prefixed
    return ids
