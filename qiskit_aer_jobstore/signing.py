"""The store's secret key and the HMAC that guards every pickled payload.

The key lives outside the store folder (``~/.qiskit/aer_jobs.key`` by default), so that write
access to the store alone never lets anyone run code in the user's Python.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from . import settings
from .exceptions import JobStoreKeyError

ALGORITHM = "HMAC-SHA256"
_KEY_BYTES = 32
_cache: dict[str, tuple[tuple[int, int, int], bytes]] = {}


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, stored beside each signature."""
    return hashlib.sha256(b"qiskit-aer-jobstore key id\0" + key).hexdigest()[:16]


def sign(key: bytes, data: bytes) -> str:
    """Hex HMAC-SHA256 of ``data``."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def verify(key: bytes, data: bytes, mac: str) -> bool:
    """Constant-time check of ``mac`` against ``data``."""
    # compare_digest raises TypeError on non-ASCII text: a planted signature must not crash us
    if not isinstance(mac, str) or not mac.isascii():
        return False
    return hmac.compare_digest(sign(key, data), mac)


def load_key(path: Path | None = None, create: bool = True) -> bytes:
    """Read the signing key, creating it (mode 0600) on first use.

    Raises:
        JobStoreKeyError: if the key cannot be read or created, is malformed, or is readable
            or writable by other users.
    """
    path = Path(path) if path is not None else settings.key_file()
    try:
        info = path.stat()
    except FileNotFoundError:
        if not create:
            raise JobStoreKeyError(f"No signing key at {path}.") from None
        return _create_key(path)
    except OSError as exc:
        raise JobStoreKeyError(f"Cannot read the signing key {path}: {exc}.") from exc
    # checked on every use, before the cache: a chmod changes neither mtime nor inode
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise JobStoreKeyError(
            f"The signing key {path} is accessible by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); anyone who can read it can forge job archives. "
            f"Fix it with: chmod 600 {path}"
        )
    # ctime too: any change to the file (content written back with its old mtime) moves it
    stamp = (info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    cached = _cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise JobStoreKeyError(
            f"Cannot read the signing key {path}: {exc}. It must hold {_KEY_BYTES * 2} hex "
            "digits; move the broken file away and a new key is made (jobs signed with the old "
            "key then stay readable only through their portable copies)."
        ) from exc
    if len(key) < 16:
        raise JobStoreKeyError(f"The signing key {path} is too short: at least 16 bytes needed.")
    _cache[str(path)] = (stamp, key)
    return key


def _create_key(path: Path) -> bytes:
    key = secrets.token_bytes(_KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(key.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() publishes the whole file at once and fails if another process won the race
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise JobStoreKeyError(f"Cannot create the signing key {path}: {exc}.") from exc
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return load_key(path, create=False)
