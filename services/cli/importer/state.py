"""Where an interrupted import stands: per input file, the last row fully acknowledged.

A JSON file, replaced atomically after every acknowledged batch. A re-run of the same
command continues after that row when the file's content hash, library and source are the
same; rows of the batch in flight when it stopped are sent again with the same
Idempotency-Key, so if the gateway had written them the first answer comes back (and the
counts stay right), and upserts are idempotent anyway. A file imported to the end starts over
on the next run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

FORMAT = 1


@dataclass
class FileState:
    sha256: str
    library: str
    source: str
    row: int = 0  # last row (as numbered in the file) whose fate is recorded
    complete: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    # This import of the file, across resumes: its batches' Idempotency-Keys start with it,
    # so a batch sent again after a lost answer replays that answer (counts stay right).
    run: str = ""


class ImportState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, FileState] = {}

    @classmethod
    def load(cls, path: Path) -> ImportState:
        state = cls(path)
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return state
        except (OSError, orjson.JSONDecodeError):
            return state  # unreadable: start again (upserts make that safe)
        if data.get("format") == FORMAT:
            for name, entry in data.get("files", {}).items():
                try:
                    state.files[name] = FileState(**entry)
                except TypeError:
                    continue
        return state

    def resume_point(self, name: str, sha256: str, library: str, source: str) -> FileState | None:
        """The saved position of an unfinished import of this very file, if any."""
        entry = self.files.get(name)
        if (
            entry is None
            or entry.complete
            or (entry.sha256, entry.library, entry.source) != (sha256, library, source)
        ):
            return None
        return entry

    def record(self, name: str, entry: FileState) -> None:
        self.files[name] = entry
        self.save()

    def save(self) -> None:
        body: dict[str, Any] = {
            "format": FORMAT,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {name: entry.__dict__ for name, entry in self.files.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
        os.replace(temporary, self.path)
