"""`zhihui import`: bulk import of spreadsheets and dumps through the gateway's bulk API.

readers (CSV in any encoding Excel writes, XLSX, JSON, JSONL) → mapping (headers to fields,
cell values cleaned) → linking (institution names to IDs) → validation (the services' own
schemas) → client (batches to `POST /api/v1/{library}/bulk`, with retries) → rejects file,
progress, and a state file that lets an interrupted import continue where it stopped.
"""

from services.cli.importer.runner import ImportOptions
from services.cli.importer.runner import ImportReport
from services.cli.importer.runner import UsageError
from services.cli.importer.runner import run_import

__all__ = ["ImportOptions", "ImportReport", "UsageError", "run_import"]
