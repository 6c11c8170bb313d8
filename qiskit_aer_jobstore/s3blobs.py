"""Archive bytes in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph): the team store's
blobs, one of the two :class:`~.blobs.Blobs` (the other is a folder).

Credentials, region and endpoint come from the standard AWS variables and files
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/credentials``,
``AWS_DEFAULT_REGION``, and ``AWS_ENDPOINT_URL`` for a server that is not AWS). boto3 is
imported only here, only when a team store is used.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from .exceptions import (
    JobArchiveError,
    JobNotFoundError,
    JobStoreSettingsError,
    JobStoreUnavailableError,
)
from .manifest import job_id_from_name

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 60


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)`` (prefix without slashes at its ends)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme != "s3" or not parts.netloc:
        raise JobStoreSettingsError(
            f"Invalid team archive location {url!r}: give s3://bucket or s3://bucket/prefix "
            "(set it in QISKIT_AER_JOBS_REMOTE_BLOBS or remote_blobs in [aer])."
        )
    prefix = parts.path.strip("/")
    if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise JobStoreSettingsError(f"Invalid prefix in {url!r}: no empty, '.' or '..' parts.")
    return parts.netloc, prefix


class S3Blobs:
    """Archives as objects ``<prefix>/<archive name>`` in one bucket.

    Args:
        url: ``s3://bucket/prefix``.
        connect_timeout: seconds to wait for the server before giving up (one retry at most).
    """

    def __init__(self, url: str, connect_timeout: float = CONNECT_TIMEOUT_S):
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.connect_timeout = connect_timeout
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Blobs({self.url!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # optional (the [team] extra): imported only when a team store is used
                    import boto3
                    from botocore.config import Config

                    config = Config(
                        connect_timeout=self.connect_timeout,
                        read_timeout=READ_TIMEOUT_S,
                        retries={"total_max_attempts": 2, "mode": "standard"},
                    )
                    session = boto3.session.Session()
                    region = session.region_name or "us-east-1"
                    self._client = session.client("s3", region_name=region, config=config)
        return self._client

    def key(self, name: str) -> str:
        """The object key of archive ``name``; refuses anything but an archive name, so that
        a hostile index row can never name an object outside the prefix."""
        if not isinstance(name, str) or job_id_from_name(name) is None:
            raise JobArchiveError(
                f"The team index names the archive {name!r}, which is not an archive name "
                "(<UTC time>_<job id>.zip); refused. The team index may have been tampered with."
            )
        return f"{self.prefix}/{name}" if self.prefix else name

    def path(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def _unavailable(self, exc: BaseException, what: str) -> JobStoreUnavailableError:
        # optional (the [team] extra), loaded with boto3
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            detail = f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return JobStoreUnavailableError(
            f"Cannot {what} s3://{self.bucket}/{self.prefix} ({detail}). Check that the server "
            "is up, AWS_ENDPOINT_URL and the AWS credentials are right and the bucket exists; "
            "queued jobs go out with the next JobStore().push()."
        )

    def _call(self, what: str, fn, *args, **kwargs):
        # optional (the [team] extra), loaded with boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(what) from None
            raise self._unavailable(exc, what) from None
        except (BotoCoreError, OSError) as exc:
            raise self._unavailable(exc, what) from None

    def put_bytes(self, name: str, data: bytes) -> int:
        """Upload one archive (S3 makes the object visible whole or not at all)."""
        key = self.key(name)
        self._call(
            f"upload {name} to", self.client.put_object, Bucket=self.bucket, Key=key, Body=data
        )
        return len(data)

    def get(self, name: str, max_bytes: int | None = None) -> bytes:
        """Download one archive, refusing one larger than ``max_bytes``.

        Raises:
            JobNotFoundError: the object is missing.
            JobArchiveError: it is larger than ``max_bytes``.
        """
        key = self.key(name)
        try:
            obj = self._call(
                f"download {name} from", self.client.get_object, Bucket=self.bucket, Key=key
            )
        except FileNotFoundError:
            raise JobNotFoundError(
                f"The team index lists {name}, but s3://{self.bucket}/{key} is missing."
            ) from None
        body = obj["Body"]
        try:
            if max_bytes is not None and obj.get("ContentLength", 0) > max_bytes:
                raise JobArchiveError(
                    f"s3://{self.bucket}/{key} is {obj['ContentLength']} bytes, over the limit of "
                    f"{max_bytes}; refused."
                )
            data = self._call(
                f"download {name} from", body.read, None if max_bytes is None else max_bytes + 1
            )
        finally:
            body.close()
        if max_bytes is not None and len(data) > max_bytes:
            raise JobArchiveError(f"s3://{self.bucket}/{key} is over the limit of {max_bytes}.")
        return data

    def delete(self, name: str) -> bool:
        self._call(
            f"delete {name} from", self.client.delete_object, Bucket=self.bucket, Key=self.key(name)
        )
        return True

    def exists(self, name: str) -> bool:
        try:
            self._call(
                f"look for {name} in",
                self.client.head_object,
                Bucket=self.bucket,
                Key=self.key(name),
            )
            return True
        except FileNotFoundError:
            return False

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
