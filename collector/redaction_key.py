"""The secret key that turns redacted values into tokens (``[card:...]``, ``[email:...]``).

Redaction must keep a value's identity without keeping the value: two orders whose IDs are
card-like numbers have to stay two traces. ``collector.normalize`` replaces each value with
an HMAC-SHA256 of it under this key, so equal values give equal tokens and nobody without the
key can test guesses (a card number has few enough candidates that a plain hash would be
reversed by enumeration).

The key is either a secret from the config (``collector.redaction.key: ${ENV}`` or
``file:/path``), so several collectors writing one store share it, or a random key created
once in the state directory (``<state_dir>/redaction.key``, mode 0600) and reused on every
start. It is never logged or printed; SECURITY.md says how to rotate it and what rotation does
to correlation.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from collector.config import CollectorSettings
from collector.yamlconf import ConfigError, Secret, make_secret

KEY_FILE = "redaction.key"
KEY_BYTES = 32
# A configured key shorter than this is refused: 32 characters of a random token carry well
# over 128 bits, below that a guessable passphrase would make tokens testable by brute force.
MIN_SECRET_CHARS = 32


class RedactionKeyError(ValueError):
    """The key could not be read or created; the message names the file or setting."""


def from_secret(secret: Secret) -> bytes:
    value = secret.reveal().strip()
    if len(value) < MIN_SECRET_CHARS:
        raise RedactionKeyError(
            f"collector.redaction.key ({secret.origin}) is {len(value)} characters; use at "
            f"least {MIN_SECRET_CHARS} random ones, e.g. "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'")
    return value.encode()


def from_state_dir(state_dir: str | Path) -> bytes:
    """The install's key file, created on first use: written whole to a private temporary
    file, then linked into place, which fails if another process got there first; so two
    processes starting together agree on one key and nobody reads a half-written one."""
    path = Path(state_dir) / KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _create(path)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise RedactionKeyError(
            f"{path}: cannot read or create the redaction key: "
            f"{getattr(exc, 'strerror', None) or exc} (check collector.state_dir and its "
            "permissions)") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        # A file that is empty or not hex: a write cut short by a crash, or a hand edit.
        raise RedactionKeyError(f"{path}: not a redaction key (expected {KEY_BYTES * 2} hex "
                                "digits); restore it from a backup, or delete it to start a new "
                                "key (SECURITY.md, 'Redaction key')")
    make_secret(text, f"file:{path}")  # masked like any secret should it ever reach output
    return key


def _create(path: Path) -> None:
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(KEY_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it meanwhile: its key is the install's
    finally:
        tmp.unlink(missing_ok=True)


def load_key(settings: CollectorSettings, config_file: str) -> bytes:
    """The key for ``midwatch run`` (and ``parse -c``): the configured secret, else the
    state directory's; a problem becomes a config error naming the setting."""
    red = settings.redaction
    try:
        return from_secret(red.key) if red.key is not None else from_state_dir(settings.state_dir)
    except RedactionKeyError as exc:
        setting = "collector.redaction.key" if red.key is not None else "collector.state_dir"
        raise ConfigError(config_file, None, setting, str(exc)) from None
