"""`.env` files: read (KEY=VALUE lines, as `hookwise serve --env-file` takes them) and written
readable by their owner only (`hookwise app create`)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping

from engine.errors import InputError

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_DOUBLE = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(?:#.*)?$')
_SINGLE = re.compile(r"^'([^']*)'\s*(?:#.*)?$")
_ESCAPES = {"n": "\n", "r": "\r", '"': '"', "\\": "\\", "t": "\t"}


def parse_env(text: str, source: str = ".env") -> dict[str, str]:
    """KEY=VALUE lines; `#` comments; "double quotes" take \\n escapes, 'single' are literal."""
    values: dict[str, str] = {}
    # lines end at \n only: any other line break inside a value stays in the value
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _LINE.match(line)
        if found is None:
            raise InputError(f"{source}:{number}: not a KEY=VALUE line")
        key, raw = found.groups()
        double, single = _DOUBLE.match(raw), _SINGLE.match(raw)
        if double is not None:
            value = re.sub(
                r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), double.group(1)
            )
        elif single is not None:
            value = single.group(1)
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
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def write_env_file(path: str, values: Mapping[str, str], header: str, *, force: bool) -> None:
    """Write the file with mode 0600 (created so; never readable by others, even briefly)."""
    if os.path.lexists(path) and not force:  # lexists: a dangling symlink is a file too
        raise InputError(f"{path} exists; pass --force to replace it (its values are kept nowhere)")
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.fchmod(descriptor, 0o600)  # whatever the umask; before a byte is written
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            for line in header.split("\n"):  # a comment, whatever the text holds
                handle.write("# " + "".join(c if c.isprintable() else "?" for c in line) + "\n")
            for key, value in values.items():
                handle.write(f"{key}={quote(value)}\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
