"""The key that encrypts secrets at rest, and encrypting and reading them with it.

Webhook URLs, SMTP passwords and the like are stored encrypted (Fernet: AES-128-CBC
with an HMAC, from the ``cryptography`` package), so a copy of the database alone gives
none of them away. The key comes from the ``LEGATO_ENCRYPTION_KEY`` setting, or else
from the file ``$LEGATO_HOME/encryption.key``, made 0600 on first use (like the SQLite
file beside it). A server and the processes sharing its database must use one key:
set the setting everywhere, or copy the file.

Every way a key can fail (malformed, unreadable, not the key the secrets were
encrypted with) is one :class:`~legato.errors.SecretKeyError` whose message names the
setting or the file; ciphertext and keys are never part of a message.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from legato.errors import SecretKeyError
from legato.files import create_private_file, open_to_others, private_dir

logger = logging.getLogger("legato.secrets")

KEY_FILE_NAME = "encryption.key"
KEY_SETTING = "LEGATO_ENCRYPTION_KEY"
MAKE_A_KEY = (
    'make one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


@dataclass(frozen=True)
class SecretBox:
    """Encrypts and reads secrets with one key; ``source`` says where the key came from
    (the setting or the file), for messages."""

    fernet: Fernet
    source: str

    def encrypt(self, text: str) -> str:
        return self.fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, what: str = "a stored secret") -> str:
        """The text of ``token``; SecretKeyError if this key did not encrypt it."""
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            raise SecretKeyError(
                f"cannot decrypt {what} with the key from {self.source}: it was encrypted "
                f"with another key. Use the key it was stored with (set {KEY_SETTING}, or "
                f"restore the key file), or store it again"
            ) from None


def fernet_of(key: str, source: str) -> Fernet:
    try:
        return Fernet(key.strip().encode("ascii"))
    except (ValueError, UnicodeError):
        raise SecretKeyError(
            f"the encryption key from {source} is not a Fernet key (32 url-safe base64-"
            f"encoded bytes); {MAKE_A_KEY}"
        ) from None


def box_from_key(key: str) -> SecretBox:
    """The box of a key given as text (the ``LEGATO_ENCRYPTION_KEY`` setting)."""
    source = f"the setting {KEY_SETTING}"
    return SecretBox(fernet_of(key, source), source)


def box_from_file(path: Path) -> SecretBox:
    """The box of the key in ``path``, the file made first (0600, a new key) if absent.

    Two processes making it at once agree: the file is created exclusively and written
    by its creator only; the other one reads what was written.
    """
    source = f"the key file {path}"
    try:
        private_dir(path.parent)
        if create_private_file(path):
            with path.open("w", encoding="ascii") as file:
                file.write(Fernet.generate_key().decode("ascii") + "\n")
                file.flush()
                os.fsync(file.fileno())
        text = ""
        for _ in range(50):  # the creator may not have written it yet
            text = path.read_text(encoding="ascii").strip()
            if text:
                break
            time.sleep(0.01)
    except (OSError, UnicodeError) as exc:
        raise SecretKeyError(
            f"cannot read or make {source} ({exc}); check the folder's permissions, or set "
            f"{KEY_SETTING}"
        ) from None
    mode = open_to_others(path)
    if mode is not None:
        logger.warning("%s can be read by other users (mode %o): chmod 600 %s", source, mode, path)
    if not text:
        raise SecretKeyError(
            f"{source} is empty; delete it to make a new key, or set {KEY_SETTING}"
        )
    return SecretBox(fernet_of(text, source), source)


def secret_box(encryption_key: str | None, home: Path) -> SecretBox:
    """The box of ``encryption_key`` if set, else of the key file under ``home``."""
    if encryption_key:
        return box_from_key(encryption_key)
    return box_from_file(home / KEY_FILE_NAME)
