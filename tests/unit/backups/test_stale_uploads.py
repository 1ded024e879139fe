"""Uploaded archives nobody restored do not stay on disk for ever."""

from __future__ import annotations

import os
import time
from pathlib import Path

from timetracker.backups.directory import UPLOAD_KEPT_SECONDS, BackupDirectory


def test_a_new_upload_removes_the_uploads_older_than_a_day_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    directory = BackupDirectory(tmp_path / "backups")
    stale = directory.create_upload()
    recent = directory.create_upload()
    a_day_ago = time.time() - UPLOAD_KEPT_SECONDS - 60
    os.utime(stale, (a_day_ago, a_day_ago))
    backup = directory.new_path()
    backup.write_bytes(b"not an upload")
    os.utime(backup, (a_day_ago, a_day_ago))

    fresh = directory.create_upload()

    assert not stale.exists()
    assert recent.exists() and fresh.exists()
    assert backup.exists()  # archives are the operator's to delete, never swept
    assert oct(fresh.stat().st_mode & 0o777) == "0o600"
