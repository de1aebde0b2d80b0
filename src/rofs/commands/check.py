"""``rofs audit``, ``rofs fix``, ``rofs rules`` and ``rofs rule``: the checks of Kubernetes
manifests, Compose files and Dockerfiles, and the fixes.

The work is ``rofs.audit`` (with ``rofs.formats`` for the report), ``rofs.fix`` (with
``rofs.fix_report`` for what it says) and ``rofs.ruledocs``.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import TYPE_CHECKING

import click

from rofs.commands import profile_file_option, registry_with
from rofs.errors import fail
from rofs.output import emit, progress_printer, report_stream
from rofs.terminal import printable

if TYPE_CHECKING:
    from rofs.config import Settings

SEVERITIES = ["low", "medium", "high", "critical"]

unknown_images_option = click.option(
    "--unknown-images", type=click.Choice(["leave", "read-only"]), default=None,
    help="What a fix does with a container whose image has no profile. leave (default): nothing, and"
    " how to learn its paths is said once per image (a read-only root with a guessed /tmp crashes most"
    " servers). read-only: set the read-only root with a bounded /tmp only.",
)


@click.command(short_help="Check K8s, Compose, Dockerfiles for read-only root problems.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option(
    "-f", "--format", "fmt", type=click.Choice(["text", "json", "sarif", "github", "junit"]), default="text",
    show_default=True,
    help="text for people, json (schema rofs-audit/1) for scripts, sarif for code scanning, github for"
    " annotations on a pull request (GitHub Actions workflow commands), junit for CI test reports.",
)
@click.option("--select", "select", multiple=True, metavar="RULES", help="Only these rules: IDs, names or prefixes (RO2). Repeatable.")
@click.option("--ignore", "ignore", multiple=True, metavar="RULES", help="Leave out these rules. Repeatable.")
@click.option(
    "--fail-on", type=click.Choice(SEVERITIES), default=None,
    help="Exit 1 only for findings at or above this severity. Default: low (any finding).",
)
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files and directories matching GLOB. Repeatable.")
@click.option("--show-suppressed", is_flag=True, help="Also list suppressed findings (text format).")
@click.option("-v", "--verbose", is_flag=True, help="Also say which named files are not manifests (workflow files, Chart.yaml ...).")
@click.option("-q", "--quiet", is_flag=True, help="Text format: the findings only (no summary line, no notes).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings (bad input still exits 2).")
@click.option("--no-ignore", is_flag=True, help="Also scan what the repository's .gitignore files leave out.")
@click.option("--no-color", is_flag=True, help="No colour in the text format (also NO_COLOR=1; FORCE_COLOR=1 forces it).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default: .rofs.yaml or [tool.rofs] in pyproject.toml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the report to FILE.")
@unknown_images_option
@profile_file_option
def audit(
    paths: tuple[str, ...],
    fmt: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_on: str | None,
    exclude: tuple[str, ...],
    show_suppressed: bool,
    verbose: bool,
    quiet: bool,
    exit_zero: bool,
    no_ignore: bool,
    no_color: bool,
    config_file: str | None,
    output: str | None,
    unknown_images: str | None,
    profile_files: tuple[str, ...],
) -> None:
    """Report every container that is not read-only, every path its app must write that has no
    writable mount, data on ephemeral storage, unbounded emptyDirs and more.

    PATH is a file, a directory (searched recursively) or - for standard input.

    \b
    Examples:
      rofs audit k8s/ compose.yaml Dockerfile
      helm template ./chart | rofs audit -
      kubectl get deploy,sts -A -o yaml | rofs audit - --fail-on high
      rofs audit . --format sarif -o rofs.sarif

    \b
    Exit codes: 0 no findings at or above --fail-on, 1 findings, 2 bad usage, a file that
    could not be read (the others are still checked), or a directory holding nothing to check.
    """
    from rofs.audit import AuditOptions
    from rofs.model import Severity

    settings = _settings(config_file)
    registry = registry_with(tuple(settings.profile_files) + profile_files)
    chosen = _rules(list(select)) if select else (_rules(settings.select) if settings.select is not None else None)
    ignored = _rules(list(ignore) + settings.ignore)
    level = fail_on or settings.fail_on or "low"
    if level not in SEVERITIES:
        fail(f"fail-on must be one of {', '.join(SEVERITIES)}")
    threshold = Severity(level)
    _check_paths(paths)
    options = AuditOptions(select=chosen, ignore=ignored, exclude=tuple(settings.exclude) + exclude, fail_on=threshold,
                           unknown_images=unknown_images or settings.unknown_images or "leave", gitignore=not no_ignore,
                           exempt_images=tuple(settings.exempt_images))
    progress = progress_printer() if fmt == "text" and sys.stderr.isatty() and not output else None
    if fmt == "text":
        from rofs.audit import stream_audit
        from rofs.formats import text as text_format

        color = _color(output, no_color)
        with report_stream(output) as handle:
            result = text_format.render(stream_audit(paths, registry, options, progress), handle, color, show_suppressed,
                                        quiet=quiet)
    else:
        from rofs.audit import audit as run_audit
        from rofs.formats import github, json_format, junit, sarif

        result = run_audit(paths, registry, options, progress=progress)
        render = {"json": json_format.render, "sarif": sarif.render, "github": github.render, "junit": junit.render}[fmt]
        emit(render(result), output)
    if progress:
        progress(None)
    _say_what_was_not_read(result, paths, verbose, quiet)
    for error in result.errors:
        click.echo(printable(f"rofs: error: {error}"), err=True)
    if not result.errors and not any(f.format is not None and not f.skipped for f in result.files):
        _nothing_read(paths, Counter(f.skipped for f in result.files if f.skipped))  # a directory of nothing
    code = result.exit_code(threshold)
    raise SystemExit(0 if exit_zero and code == 1 else code)


def _say_what_was_not_read(result, paths: tuple[str, ...], verbose: bool, quiet: bool) -> None:
    """Named files with nothing to check: said when it may matter (a chart's template, a binary) or
    with --verbose (a workflow file or Chart.yaml is plainly no manifest: pre-commit names them all);
    and what a file names that rofs did not read (unless --quiet)."""
    named = {"<stdin>" if p == "-" else p for p in paths}
    for source in result.files:
        if source.skipped and source.path in named and (verbose or source.skipped not in QUIET_SKIPS):
            click.echo(printable(f"rofs: {source.path}: skipped: {source.skipped}"), err=True)
        for note in source.notes if not quiet else ():
            click.echo(printable(f"rofs: {source.path}: {note}"), err=True)


def _color(output: str | None, no_color: bool) -> bool:
    """Colour on a terminal; NO_COLOR or --no-color turn it off, FORCE_COLOR on (CI logs render it)."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return not output and sys.stdout.isatty()


# Files named that are plainly no manifest: said only with --verbose
QUIET_SKIPS = frozenset({"not Kubernetes or Compose", "empty"})


def _nothing_read(paths: tuple[str, ...], skipped: Counter[str]) -> None:
    """A scan of a directory, or of stdin, that held no file rofs reads (a wrong directory, templates
    not rendered, `helm template` that failed before `| rofs audit -`) is no pass: exit 2, saying what
    was there.  Files named one by one (a pre-commit hook passes every staged YAML file) that are not
    manifests are only said to be skipped."""
    if not any(p == "-" or os.path.isdir(p) for p in paths):
        return
    where = ", ".join("stdin" if p == "-" else p for p in paths)
    seen = "; ".join(f"{n} {reason}" for reason, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    fail(f"no Kubernetes manifest, Compose file or Dockerfile in {where}" + (f" ({seen})" if seen else "")
         + ": name the files, or render templates first (helm template, kustomize build)")


@click.command("rules", short_help="List every rule: ID, name, severity, title.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def rules_cmd(fmt: str) -> None:
    """List every audit rule. IDs are public and never change."""
    from rofs import report, ruledocs

    if fmt == "table":
        ruledocs.print_table(report.console())
    elif fmt == "json":
        click.echo(json.dumps(ruledocs.as_dicts(), indent=2))
    else:
        click.echo(ruledocs.markdown(), nl=False)


@click.command("rule", short_help="Explain one rule: what, why, example, fix, references.")
@click.argument("rule_id", metavar="RULE")
def rule_cmd(rule_id: str) -> None:
    """Explain one rule, by ID (RO201) or name (missing-writable-path)."""
    from rofs import ruledocs
    from rofs import rules as rules_mod

    module = rules_mod.get(rule_id)
    if module is None:
        fail(f"unknown rule {rule_id!r}; known: {', '.join(rules_mod.RULES)}")
    click.echo(ruledocs.markdown_for(module), nl=False)


@click.command(short_help="Make K8s and Compose files read-only and still running.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff and write nothing.")
@click.option("--select", "select", multiple=True, metavar="RULES", help="Fix only these rules (IDs, names or prefixes). `rofs rules` says which each"
              " one does: fixed (safe, or review: read the diff) or suggested only.")
@click.option("--ignore", "ignore", multiple=True, metavar="RULES", help="Do not fix these rules.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files and directories matching GLOB.")
@click.option("--no-ignore", is_flag=True, help="Also fix what the repository's .gitignore files leave out.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (as for audit).")
@unknown_images_option
@profile_file_option
def fix(
    paths: tuple[str, ...],
    show_diff: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    exclude: tuple[str, ...],
    no_ignore: bool,
    config_file: str | None,
    unknown_images: str | None,
    profile_files: tuple[str, ...],
) -> None:
    """Rewrite Kubernetes and Compose files so every container has a read-only root AND the
    writable mounts its app needs: persistent paths on claims (volumeClaimTemplates in a
    StatefulSet) or named volumes, temp paths on bounded emptyDir or tmpfs, /dev/shm in memory.
    Comments, key order, quoting and layout are kept; only the lines the fix needs change.

    Dockerfiles: only what cannot change behaviour is rewritten (a shell-form command of plain
    words becomes exec form); --diff also shows a suggested patch (non-root USER, directories
    made and owned at build) for you to review.

    \b
    Examples:
      rofs fix --diff k8s/            show what would change
      rofs fix k8s/ compose.yaml      rewrite in place (atomically)
      helm template ./chart | rofs fix - > fixed.yaml

    \b
    Exit codes: 0 nothing changed (suggestions only you can make are shown, with --diff, but do
    not fail), 1 files were (or would be) changed, 2 bad input (that file is left untouched; the
    others are still fixed) or a directory holding nothing to fix.
    """
    from rofs import fix_report
    from rofs.fix import ALL_RULES, fix_paths

    settings = _settings(config_file)
    registry = registry_with(tuple(settings.profile_files) + profile_files)
    chosen = _rules(list(select)) if select else set(ALL_RULES)
    ignored = _rules(list(ignore) + settings.ignore)
    _check_paths(paths)
    results = fix_paths(paths, registry, chosen - ignored, tuple(settings.exclude) + exclude, show_diff=show_diff,
                        unknown_images=unknown_images or settings.unknown_images or "leave", gitignore=not no_ignore,
                        exempt_images=tuple(settings.exempt_images))
    if not any(r.format is not None for r in results) and not any(r.error for r in results):
        _nothing_read(paths, Counter())
    raise SystemExit(fix_report.report(results, show_diff))


def _settings(config_file: str | None) -> Settings:
    """--config, else .rofs.yaml or [tool.rofs] in pyproject.toml; exit 2 when it is broken."""
    from rofs import config as config_mod

    try:
        return config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        fail(str(exc))


def _rules(names: list[str]) -> set[str]:
    """The rule IDs that IDs, names or prefixes mean; exit 2 on an unknown one."""
    from rofs import rules as rules_mod

    try:
        return rules_mod.resolve(names)
    except KeyError as exc:
        fail(f"unknown rule {exc.args[0]!r}; see `rofs rules`")


def _check_paths(paths: tuple[str, ...]) -> None:
    for path in paths:
        if path != "-" and not os.path.exists(path):
            fail(f"{path}: no such file or directory")
