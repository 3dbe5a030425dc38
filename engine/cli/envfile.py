"""`.env` files: read (KEY=VALUE lines, as `hookwise serve --env-file` takes them) and written
readable by their owner only (`hookwise app create`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from engine.errors import InputError

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\", "t": "\t"}


def parse_env(text: str, source: str = ".env") -> dict[str, str]:
    """KEY=VALUE lines; `#` comments; "double quotes" take \\n escapes, 'single' are literal."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _LINE.match(line)
        if found is None:
            raise InputError(f"{source}:{number}: not a KEY=VALUE line")
        key, raw = found.groups()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw[1:-1])
        elif len(raw) >= 2 and raw[0] == raw[-1] == "'":
            value = raw[1:-1]
        else:
            value = raw.split(" #", 1)[0].strip()
        values[key] = value
    return values


def load_env_file(path: str) -> list[str]:
    """Set the file's variables that the environment does not already set; their names."""
    try:
        with open(path, encoding="utf-8") as handle:
            values = parse_env(handle.read(), path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    loaded = []
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = value
            loaded.append(key)
    return loaded


def quote(value: str) -> str:
    """A value as a double-quoted .env string (newlines as \\n)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_env_file(path: str, values: Mapping[str, str], header: str, *, force: bool) -> None:
    """Write the file with mode 0600 (created so; never readable by others, even briefly)."""
    if os.path.exists(path) and not force:
        raise InputError(f"{path} exists; pass --force to replace it (its values are kept nowhere)")
    temporary = f"{path}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("".join(f"# {line}\n" for line in header.splitlines()))
            for key, value in values.items():
                handle.write(f"{key}={quote(value)}\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
