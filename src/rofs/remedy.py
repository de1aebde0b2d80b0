"""What fixes a finding: typed remedies, built by the rule that finds the problem.

A rule knows why something is wrong, so it also says what would make it right: "set the
container's root read-only", "mount /var/run/postgresql as ephemeral storage of 1 MiB".  The
remedy is data; the words come from the format (:class:`Wording`, one per reader), so
``rofs audit`` and ``rofs fix`` show the same text, and the fixers of each format only turn
remedies into text edits: they never work out again what the rules found.

Applicability says what ``rofs fix`` may do with a remedy (as ruff's fix safety does):

safe        applied by ``rofs fix``: the workload keeps working as it did;
review      applied by ``rofs fix``, and the diff wants a reviewer (storage is added or changed);
suggestion  shown (audit's fix text, ``rofs fix --diff`` for Dockerfiles), never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from rofs.model import VolumeKind


class Applicability(StrEnum):
    SAFE = "safe"
    REVIEW = "review"
    SUGGESTION = "suggestion"

    @property
    def applied(self) -> bool:
        """Whether ``rofs fix`` writes it."""
        return self is not Applicability.SUGGESTION


# Sizes a fix uses when the profile gives none (or for an image without a profile).
DEFAULT_EPHEMERAL = 256 << 20
DEFAULT_MEMORY = 64 << 20
DEFAULT_PERSISTENT = 10 << 30


class Wording(Protocol):
    """How a format names what remedies ask for (each reader provides one)."""

    def read_only(self) -> str:
        """The setting that makes a container's root read-only."""
        ...

    def volume(self, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        """The storage to mount for a path of this kind: ``emptyDir, sizeLimit 1Mi``."""
        ...

    def mount(self, path: str, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        """What to do so *path* is writable: ``mount /tmp as emptyDir, sizeLimit 256Mi``."""
        ...


@dataclass(frozen=True)
class ReadOnlyRoot:
    """Make this container's root filesystem read-only (container level)."""

    container: str

    def describe(self, words: Wording) -> str:
        return f"set {words.read_only()}"


@dataclass(frozen=True)
class RemovePodSetting:
    """Remove a setting written at pod level, where it has no effect."""

    key: str

    def describe(self, words: Wording) -> str:
        return f"remove {self.key} from the pod securityContext (it has no effect there)"


@dataclass(frozen=True)
class AddMount:
    """Mount writable storage of *kind* at *path* for *container*.

    *populated*: the image has files there the app needs (an empty volume would hide them).
    *guess*: the image has no profile; this is a start, not what the app is known to need.
    """

    container: str
    path: str
    kind: VolumeKind
    size: int | None
    populated: bool = False
    name: str | None = None  # the profile's preferred volume name
    purpose: str = ""
    guess: bool = False

    def describe(self, words: Wording) -> str:
        return words.mount(self.path, self.kind, self.size, self.populated)


@dataclass(frozen=True)
class MakePersistent:
    """Move the data at *path*, on ephemeral volume *volume*, to persistent storage of *size*."""

    volume: str
    path: str
    size: int

    def describe(self, words: Wording) -> str:
        return f"move {self.path} from volume {self.volume!r} to {words.volume(VolumeKind.PERSISTENT, self.size)}"


@dataclass(frozen=True)
class BoundVolume:
    """Give ephemeral volume *volume* (mounted at *path*) a size limit."""

    volume: str
    path: str | None
    size: int
    kind: VolumeKind = VolumeKind.EPHEMERAL

    def describe(self, words: Wording) -> str:
        where = self.path or self.volume
        return f"bound {where}: {words.volume(self.kind, self.size)}"


@dataclass(frozen=True)
class DeclareVolume:
    """Declare the named volume a mount refers to (or correct the mount's name)."""

    name: str

    def describe(self, words: Wording) -> str:
        return f"declare volume {self.name!r}, or correct the name the mount uses"


@dataclass(frozen=True)
class ExecForm:
    """Write CMD/ENTRYPOINT as a JSON array: *words* when they are plain words, else None (the
    command needs a shell: only the author can rewrite it)."""

    instruction: str  # CMD or ENTRYPOINT
    line: int
    command: str
    words: tuple[str, ...] | None

    def describe(self, words: Wording) -> str:
        if self.words is not None:
            return f"write {self.instruction} in exec form: {self.instruction} {_json(self.words)}"
        return (f"{self.instruction} needs a shell: use an entrypoint script or plain words"
                f" (at least {self.instruction} {_json(('/bin/sh', '-c', self.command))})")


@dataclass(frozen=True)
class NonRootUser:
    """End the image as a non-root user *owner* (``UID:GID``), owning the *dirs* the app writes."""

    owner: str
    dirs: tuple[str, ...] = ()
    known: bool = False  # the owner is the profile's user (else: a user the author must create)

    def describe(self, words: Wording) -> str:
        text = f"end with USER {self.owner}"
        if self.dirs:
            text += f", after making {', '.join(self.dirs)} owned by it"
        return text if self.known else text + " (create that user first)"


@dataclass(frozen=True)
class Suggestion:
    """Advice only the author can act on."""

    text: str

    def describe(self, words: Wording) -> str:
        return self.text


@dataclass(frozen=True)
class LearnPaths:
    """The image has no profile: which paths it writes is unknown, so its root is not made
    read-only until they are learnt (or the user opts into a bounded /tmp alone)."""

    image: str | None  # None: a Compose service built from source

    def describe(self, words: Wording) -> str:
        what = self.image or "this build"
        return (f"learn the paths {what} writes (rofs trace -- COMMAND, or rofs run --image saved-image.tar),"
                f" then fix with --profile-file; --unknown-images read-only sets {words.read_only()} with a"
                " bounded /tmp only")


BUILT_FROM_SOURCE = "(built from source)"


def unprofiled_images(findings) -> list[str]:
    """The images (or BUILT_FROM_SOURCE) of *findings* left as they are for want of a profile."""
    return [r.image or BUILT_FROM_SOURCE for f in findings for r in f.remedies if isinstance(r, LearnPaths)]


SUGGESTION_ONLY = (DeclareVolume, Suggestion, LearnPaths)
Remedy = (ReadOnlyRoot | RemovePodSetting | AddMount | MakePersistent | BoundVolume | DeclareVolume | ExecForm
          | NonRootUser | Suggestion | LearnPaths)


def describe(remedies: tuple[Remedy, ...], words: Wording) -> str:
    """One line for a finding's remedies, in the format's words."""
    return "; ".join(r.describe(words) for r in remedies)


REMEDY_TYPES = {
    ReadOnlyRoot: "read-only-root", RemovePodSetting: "remove-pod-setting", AddMount: "add-mount",
    MakePersistent: "make-persistent", BoundVolume: "bound-volume", DeclareVolume: "declare-volume",
    ExecForm: "exec-form", NonRootUser: "non-root-user", Suggestion: "suggestion", LearnPaths: "learn-paths",
}


def as_dict(remedy: Remedy) -> dict:
    """A remedy for machine output: its type and fields (``rofs-audit/1``'s ``remedies``)."""
    from dataclasses import asdict

    fields = {k: (v.value if isinstance(v, VolumeKind) else list(v) if isinstance(v, tuple) else v)
              for k, v in asdict(remedy).items()}
    return {"type": REMEDY_TYPES[type(remedy)], **fields}


def fix_label(applicability: str) -> str:
    """How text output introduces a finding's fix: what `rofs fix` will do with it."""
    return {"safe": "fix", "review": "fix (review)"}.get(applicability, "suggested fix")


def _json(words: tuple[str, ...]) -> str:
    import json

    return json.dumps(list(words))


__all__ = [
    "BUILT_FROM_SOURCE",
    "DEFAULT_EPHEMERAL",
    "DEFAULT_MEMORY",
    "DEFAULT_PERSISTENT",
    "AddMount",
    "Applicability",
    "BoundVolume",
    "DeclareVolume",
    "ExecForm",
    "LearnPaths",
    "MakePersistent",
    "NonRootUser",
    "ReadOnlyRoot",
    "Remedy",
    "RemovePodSetting",
    "Suggestion",
    "Wording",
    "describe",
    "unprofiled_images",
]
