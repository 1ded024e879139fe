"""The backup directory: where the service writes archives, and which files it will restore.

The service names every archive it writes `timetracker-<kind>-<UTC time>-<8 hex>.tar`
(kind `backup`, or `safety` for the copy a forced restore takes first). Only such names,
directly in the directory, are listed or restored by name: anything else (another name,
a path, a link) is refused before the file system is touched.

Archives hold every event and every token's hash: the directory and its `uploads/` are
the owner's alone (0700) and so is every file in them (0600), whatever the umask; `secure`
checks that, and tightens what is looser, when the service starts.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from timetracker.backups.archive import ArchiveError, Manifest, read_manifest

log = logging.getLogger(__name__)

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
ARCHIVE_NAME = re.compile(r"timetracker-(backup|safety)-(\d{8}T\d{6}Z)-([0-9a-f]{8})\.tar")
UPLOADS = "uploads"
UPLOAD_KEPT_SECONDS = 24 * 3600  # an upload nobody restored within a day is removed


class BackupNameError(ValueError):
    """A filename the service did not give, or one that reaches outside the directory."""


class BackupNotFoundError(LookupError):
    """No archive of that name in the backup directory."""


@dataclass(frozen=True)
class BackupFile:
    """An archive in the backup directory, with its manifest (None if unreadable)."""

    filename: str
    kind: str
    path: Path
    size_bytes: int
    manifest: Manifest | None
    problem: str | None


class BackupDirectory:
    """Names, lists and finds the archives under one directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _ensure(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
        # mkdir's mode goes through the umask; chmod does not.
        if stat.S_IMODE(path.stat().st_mode) != DIRECTORY_MODE:
            os.chmod(path, DIRECTORY_MODE)
        return path

    def secure(self) -> list[Path]:
        """Make the directory and `uploads/` 0700 and every file in them 0600, where they
        exist (they are created 0700 when first used); what had to be tightened (logged,
        for the operator to look into)."""
        tightened: list[Path] = []
        for folder in (self.path, self.path / UPLOADS):
            if not folder.is_dir():
                continue
            if stat.S_IMODE(folder.stat().st_mode) != DIRECTORY_MODE:
                tightened.append(folder)
            self._ensure(folder)
            for path in folder.iterdir():
                if path.is_symlink() or not path.is_file():
                    continue
                if stat.S_IMODE(path.stat().st_mode) & ~FILE_MODE:
                    os.chmod(path, FILE_MODE)
                    tightened.append(path)
        if tightened:
            log.warning(
                "Backup files were readable by others; now only by their owner: %s",
                ", ".join(str(p) for p in tightened),
            )
        return tightened

    def create_upload(self) -> Path:
        """A new, empty upload file (0600), for an archive kept until it is restored; the
        uploads nobody restored within `UPLOAD_KEPT_SECONDS` are removed first."""
        path = self.upload_path()
        self.remove_stale_uploads()
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        return path

    def remove_stale_uploads(self) -> list[str]:
        """Remove the uploads last written more than `UPLOAD_KEPT_SECONDS` ago (a dry run
        that was never confirmed, a restore that failed); their names."""
        cutoff = datetime.now(UTC).timestamp() - UPLOAD_KEPT_SECONDS
        removed = []
        for upload in (self.path / UPLOADS).glob("upload-*.tar"):
            try:
                if upload.is_file() and upload.stat().st_mtime < cutoff:
                    upload.unlink()
                    removed.append(upload.name)
            except FileNotFoundError:  # another process removed it meanwhile
                continue
        if removed:
            log.info("Removed %d upload(s) nobody restored within a day", len(removed))
        return removed

    def new_path(self, kind: str = "backup") -> Path:
        """A fresh archive name in the directory (created if missing)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return self._ensure(self.path) / f"timetracker-{kind}-{stamp}-{secrets.token_hex(4)}.tar"

    def upload_path(self) -> Path:
        """Where an uploaded archive is kept until it is restored (never listed)."""
        return self._ensure(self.path / UPLOADS) / f"upload-{uuid.uuid4().hex}.tar"

    def resolve(self, filename: str) -> Path:
        """The archive called `filename`; BackupNameError or BackupNotFoundError if none."""
        if not ARCHIVE_NAME.fullmatch(filename):
            raise BackupNameError(
                "Not a backup filename: expected timetracker-backup-<time>-<id>.tar as listed."
            )
        path = self.path / filename
        if path.is_symlink() or not path.is_file():
            raise BackupNotFoundError(f"No backup called {filename}.")
        return path

    def list(self) -> list[BackupFile]:
        """Every archive the service wrote here, newest first."""
        if not self.path.is_dir():
            return []
        found: list[tuple[str, BackupFile]] = []
        for path in self.path.iterdir():
            match = ARCHIVE_NAME.fullmatch(path.name)
            if match is None or path.is_symlink() or not path.is_file():
                continue
            manifest: Manifest | None = None
            problem: str | None = None
            try:
                manifest = read_manifest(path)
            except ArchiveError as exc:
                problem = str(exc)
            item = BackupFile(
                path.name, match.group(1), path, path.stat().st_size, manifest, problem
            )
            found.append((match.group(2) + match.group(3), item))
        return [item for _, item in sorted(found, key=lambda pair: pair[0], reverse=True)]
