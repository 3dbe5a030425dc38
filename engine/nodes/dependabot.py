"""dependabot.metadata: what Dependabot updated, read from its own commit message.

Dependabot ends the message of each commit it makes with a YAML block between a `---` line
and a `...` line (`updated-dependencies:` with `dependency-name`, `dependency-type`,
`update-type`, and in newer messages `dependency-version` and `dependency-group`); the text
above says `Bumps <name> from <old> to <new>.` (one update) or ``Updates `<name>` from <old>
to <new>`` (a group). The pull request's branch is `dependabot/<ecosystem>/...`, and its title
ends ` in /<directory>` when the manifest is not at the root. The dependabot/fetch-metadata
Action reads the same block: https://github.com/dependabot/fetch-metadata

The metadata is trusted only on a pull request that Dependabot opened and whose commits are
all Dependabot's; anything else fails the node with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from engine.nodes.context import NodeContext, NodeError
from engine.nodes.rest import get, repo_path

DEPENDABOT = "dependabot[bot]"
_BUMPS = re.compile(r"^Bumps\s.*?\sfrom\s+(?P<old>v?\d\S*)\s+to\s+(?P<new>v?\d\S*?)\.?\s*$", re.M)
_UPDATES = re.compile(r"^Updates `(?P<name>[^`]+)` (?:from (?P<old>\S+) )?to (?P<new>\S+?)\.?\s*$", re.M)
_REQUIREMENT = re.compile(r"\b[Uu]pdate .* requirement from \S*? ?(?P<old>v?\d\S*) to \S*? ?(?P<new>v?\d\S*)")
_DIRECTORY = re.compile(r" in (?P<dir>/\S*)$")
_ORDER = {
    "version-update:semver-patch": 1,
    "version-update:semver-minor": 2,
    "version-update:semver-major": 3,
}


class MetadataError(ValueError):
    """The message holds no usable Dependabot metadata; the text says why."""


@dataclass(frozen=True)
class Dependency:
    """One updated dependency."""

    name: str
    type: str
    update_type: str
    previous_version: str
    new_version: str
    group: str

    def to_json(self) -> dict[str, str]:
        """The dependency with the output names Dependabot's block uses."""
        return {
            "dependency-name": self.name,
            "dependency-type": self.type,
            "update-type": self.update_type,
            "previous-version": self.previous_version,
            "new-version": self.new_version,
            "dependency-group": self.group,
        }


MAX_MESSAGE = 64 * 1024  # a Dependabot message is a few KB; a longer one is not read


class _PlainLoader(yaml.BaseLoader):
    """Every scalar a string (version 4.10 must not become 4.1), and no anchors or aliases
    (an alias bomb in a commit message must not exhaust memory)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise MetadataError("the metadata block uses a YAML alias, which Dependabot never writes")
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None) is not None:
            raise MetadataError("the metadata block uses a YAML anchor, which Dependabot never writes")
        return super().compose_node(parent, index)


def _block(text: str) -> str | None:
    """The YAML between a `---` line and the next `...` line (a line scan: linear time)."""
    lines = text.split("\n")
    for start, line in enumerate(lines):
        if line.rstrip() == "---":
            for end in range(start + 1, len(lines)):
                if lines[end].rstrip() == "...":
                    return "\n".join(lines[start + 1 : end])
            return None
    return None


def parse_message(message: str, title: str = "") -> list[Dependency]:
    """The dependencies a Dependabot commit message says it updates (MetadataError if none)."""
    if len(message) > MAX_MESSAGE:
        raise MetadataError(f"the commit message is longer than {MAX_MESSAGE:,} characters")
    text = message.replace("\r\n", "\n")
    block = _block(text)
    if block is None:
        raise MetadataError("no Dependabot metadata block (--- updated-dependencies: ... ...)")
    try:
        data = yaml.load(block, Loader=_PlainLoader)
    except yaml.YAMLError as exc:
        raise MetadataError(f"the metadata block is not valid YAML: {exc}") from None
    entries = data.get("updated-dependencies") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise MetadataError("the metadata block lists no updated-dependencies")
    versions = _versions(text, title)
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("dependency-name"):
            raise MetadataError(f"updated-dependencies[{index}] has no dependency-name")
        fields = {key: _text(entry, key, index) for key in _FIELDS}
        name = fields["dependency-name"]
        old, new = versions.get(name) or (versions.get("") if index == 0 else None) or ("", "")
        new = fields["dependency-version"] or new
        result.append(
            Dependency(
                name=name,
                type=fields["dependency-type"],
                update_type=fields["update-type"] or update_type(old, new),
                previous_version=old,
                new_version=new,
                group=fields["dependency-group"],
            )
        )
    return result


_FIELDS = ("dependency-name", "dependency-version", "dependency-type", "update-type", "dependency-group")


def _text(entry: dict[str, Any], key: str, index: int) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MetadataError(f"updated-dependencies[{index}].{key} must be text")
    return value


def _versions(text: str, title: str) -> dict[str, tuple[str, str]]:
    """name -> (old, new) from the human text; "" keys the single bump of a one-update PR."""
    found = {m["name"]: (m["old"] or "", m["new"]) for m in _UPDATES.finditer(text)}
    single = _BUMPS.search(text) or _REQUIREMENT.search(text.split("\n", 1)[0])
    single = single or _REQUIREMENT.search(title)
    if single is not None:
        found[""] = (single["old"], single["new"].rstrip("."))
    return found


def update_type(old: str, new: str) -> str:
    """semver-major/minor/patch from two versions, as Dependabot names them ("" if unknown)."""
    if not old or not new or old == new:
        return ""
    before, after = old.lstrip("v").split("."), new.lstrip("v").split(".")
    if before[0] != after[0]:
        return "version-update:semver-major"
    if len(before) < 2 or len(after) < 2 or before[1] != after[1]:
        return "version-update:semver-minor"
    return "version-update:semver-patch"


def outputs(dependencies: list[Dependency], *, branch: str, title: str, base: str) -> dict[str, Any]:
    """The node's outputs: the first dependency's facts, the highest update type of all."""
    first = dependencies[0]
    types = [d.update_type for d in dependencies]
    # one update of unknown size makes the whole pull request's size unknown
    highest = "" if any(t not in _ORDER for t in types) else max(types, key=lambda t: _ORDER[t])
    parts = branch.split(branch[10], 2) if len(branch) > 10 else []
    directory = _DIRECTORY.search(title)
    return {
        "dependency-names": ", ".join(d.name for d in dependencies),
        "dependency-type": first.type,
        "update-type": highest,
        "previous-version": first.previous_version,
        "new-version": first.new_version,
        "package-ecosystem": parts[1] if len(parts) > 1 else "",
        "directory": directory["dir"] if directory else "/",
        "target-branch": base,
        "dependency-group": first.group,
        "dependencies": [d.to_json() for d in dependencies],
    }


async def metadata(ctx: NodeContext) -> dict[str, Any]:
    """What Dependabot updated in this pull request (dependabot.metadata)."""
    github = ctx.require_github()
    number = ctx.number()
    base = f"{repo_path(ctx)}/pulls/{number}"
    pull = await github.request("GET", base)
    author = str(get(get(pull, "user"), "login") or "")
    if author.lower() != DEPENDABOT:
        raise NodeError(
            f"pull request #{number} was opened by {author or 'an unknown user'}, not by "
            f"Dependabot ({DEPENDABOT}); its metadata exists only on Dependabot's pull requests"
        )
    branch = str(get(get(pull, "head"), "ref") or "")
    if not branch.startswith("dependabot"):
        raise NodeError(f"pull request #{number} is from branch {branch!r}, not a Dependabot branch")
    commits = await github.paginate(f"{base}/commits", params={"per_page": 100})
    _one_verified_commit(number, commits)
    message = str(get(get(commits[0], "commit"), "message") or "")
    title = str(get(pull, "title") or "")
    try:
        dependencies = parse_message(message, title)
    except MetadataError as exc:
        raise NodeError(f"pull request #{number}: {exc}") from None
    target = str(get(get(pull, "base"), "ref") or "")
    result = outputs(dependencies, branch=branch, title=title, base=target)
    result["sha"] = str(get(commits[0], "sha") or "")  # merge this commit, not a later push
    return result


def _one_verified_commit(number: int, commits: list[Any]) -> None:
    """As dependabot/fetch-metadata checks: exactly one commit, by Dependabot, signed by
    GitHub (an author login alone is only the commit's email address, which anyone can set)."""
    if len(commits) != 1:
        raise NodeError(
            f"pull request #{number} has {len(commits)} commits; Dependabot's metadata describes "
            "a pull request of its one commit (ask `@dependabot rebase`)"
        )
    commit = commits[0]
    sha = str(get(commit, "sha") or "")[:7]
    login = str(get(get(commit, "author"), "login") or "")
    if login.lower() != DEPENDABOT:
        raise NodeError(
            f"commit {sha} of pull request #{number} is by {login or 'an unknown author'}; "
            "Dependabot's metadata describes only its own commits"
        )
    if get(get(get(commit, "commit"), "verification"), "verified") is not True:
        raise NodeError(
            f"commit {sha} of pull request #{number} is not signed by GitHub (verification "
            "failed), so it may not be Dependabot's"
        )
