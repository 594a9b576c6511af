"""Envelope encryption primitives: AES-256-GCM sealing and the keyring's root key.

A sealed blob is ``format byte (1) | 12-byte random nonce | ciphertext and tag``. The
associated data names what the blob belongs to, so a blob moved elsewhere fails to open.
The root key comes from a master key file (base64 of 32 random bytes, mode 0600) or
from a passphrase through argon2id.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from botmaker.errors import Conflict, InvalidInput
from botmaker.fsutil import fsync_dir
from botmaker.keyring.model import KeyringCorrupt, KeyringLocked

FORMAT = 1
NONCE_BYTES = 12
KEY_BYTES = 32
SALT_BYTES = 16
_TAG_BYTES = 16

ROOT_CHECK_PLAINTEXT = b"botmaker-keyring-root-check"
ROOT_CHECK_AAD = b"root-check"

RootKind = Literal["file", "passphrase"]


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key``, bound to ``aad``."""
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of a :func:`seal` blob; :class:`KeyringCorrupt` if it does not verify."""
    if len(blob) < 1 + NONCE_BYTES + _TAG_BYTES or blob[0] != FORMAT:
        raise KeyringCorrupt("sealed value has an unknown format or is truncated")
    nonce = blob[1 : 1 + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise KeyringCorrupt("sealed value failed authentication") from None


@dataclass(frozen=True)
class KdfParams:
    """argon2id cost parameters (memory in KiB), stored beside the salt so they can change."""

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 2
    hash_len: int = KEY_BYTES

    def __post_init__(self) -> None:
        if self.hash_len != KEY_BYTES:
            raise InvalidInput(f"argon2 hash_len must be {KEY_BYTES}")
        if not 1 <= self.parallelism <= 64:
            raise InvalidInput("argon2 parallelism must be between 1 and 64")
        if not 1 <= self.time_cost <= 100:
            raise InvalidInput("argon2 time_cost must be between 1 and 100")
        if not 8 * self.parallelism <= self.memory_cost <= 4 * 1024 * 1024:
            raise InvalidInput("argon2 memory_cost must be between 8*parallelism KiB and 4 GiB")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KdfParams:
        try:
            return cls(**{name: int(data[name]) for name in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyringCorrupt(f"stored argon2 parameters are invalid: {exc}") from None


class RootKey:
    """The 32-byte key that wraps the keyring's KEKs; never printed."""

    __slots__ = ("_key", "kind", "params", "salt")

    def __init__(
        self,
        key: bytes,
        *,
        kind: RootKind = "file",
        salt: bytes | None = None,
        params: KdfParams | None = None,
    ) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidInput(f"a root key is {KEY_BYTES} bytes")
        if (kind == "passphrase") != (salt is not None and params is not None):
            raise InvalidInput("a passphrase root key has a salt and KDF parameters; others not")
        self._key = bytes(key)
        self.kind: RootKind = kind
        self.salt = salt
        self.params = params

    def __repr__(self) -> str:
        return f"RootKey(kind={self.kind!r})"

    @property
    def material(self) -> bytes:
        """The raw key bytes, for sealing; never log or store them."""
        return self._key

    @classmethod
    def generate(cls) -> RootKey:
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_passphrase(cls, passphrase: str, salt: bytes, params: KdfParams) -> RootKey:
        """Derive a root key with argon2id."""
        if not passphrase:
            raise InvalidInput("the passphrase is empty", field="passphrase")
        if len(salt) < SALT_BYTES:
            raise InvalidInput(f"the salt must be at least {SALT_BYTES} bytes")
        key = hash_secret_raw(
            secret=passphrase.encode("utf-8"),
            salt=salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            type=Type.ID,
        )
        return cls(key, kind="passphrase", salt=salt, params=params)

    @classmethod
    def new_passphrase(cls, passphrase: str, params: KdfParams | None = None) -> RootKey:
        """A passphrase root key with a fresh random salt (first use, or a passphrase change)."""
        return cls.from_passphrase(passphrase, os.urandom(SALT_BYTES), params or KdfParams())

    @classmethod
    def from_file(cls, path: Path) -> RootKey:
        """Read a master key file; refuse one that group or others may access."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise KeyringLocked(f"no master key at {path}") from None
        except OSError as exc:
            raise KeyringLocked(f"cannot open the master key {path}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise KeyringLocked(f"the master key {path} is not a regular file")
            if info.st_mode & 0o077:
                raise KeyringLocked(
                    f"the master key {path} has mode {stat.S_IMODE(info.st_mode):04o}, "
                    "readable beyond its owner; refusing it (chmod 600 it)"
                )
            data = os.read(fd, 4096)
        except OSError as exc:
            raise KeyringLocked(f"cannot read the master key {path}: {exc.strerror}") from None
        finally:
            os.close(fd)
        try:
            key = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyringLocked(f"the master key {path} is not base64 of {KEY_BYTES} bytes")
        return cls(key)

    @classmethod
    def write_new_file(cls, path: Path) -> RootKey:
        """Generate a key and write it to ``path`` (0600); never replaces an existing file."""
        folder = path.parent
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        root = cls.generate()
        data = base64.b64encode(root.material) + b"\n"
        tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, path)
        except FileExistsError:
            raise Conflict(f"a file already exists at {path}; refusing to overwrite it") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        fsync_dir(folder)
        return root

    def check_value(self) -> bytes:
        """A sealed constant that only this key opens: stored to recognise the right key."""
        return seal(self._key, ROOT_CHECK_PLAINTEXT, ROOT_CHECK_AAD)

    def matches(self, check: bytes) -> bool:
        try:
            return open_sealed(self._key, check, ROOT_CHECK_AAD) == ROOT_CHECK_PLAINTEXT
        except KeyringCorrupt:
            return False
