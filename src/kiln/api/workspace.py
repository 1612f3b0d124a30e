"""Moving a workspace: export it as one archive, import such an archive.

Both need the owner role: an export holds everything in the workspace (every user's jobs, code
and data), and an import writes everywhere. The archive's format is ``kiln.transfer.archive``.
"""

from __future__ import annotations

from kiln.api.operation import BYTES, NDJSON, TAR, Operation
from kiln.errors import Conflict
from kiln.specs.roles import Role

EXPORT_BYTES_HEADER = "x-kiln-export-bytes"

EXPORT = Operation(
    "workspace.export", "GET", "/api/v1/workspace/export",
    summary="Export the workspace",
    description="The workspace as an uncompressed tar (``include_endpoints``: also the endpoints' desired state).",
    role=Role.OWNER, action="exporting the workspace",
    response=bytes, media_type=TAR, query=("include_endpoints",),
    response_headers=((EXPORT_BYTES_HEADER, "About how many bytes of file content the archive carries."),),
    limit="downloads",
)  # fmt: skip
IMPORT = Operation(
    "workspace.import", "POST", "/api/v1/workspace/import",
    summary="Import an exported workspace",
    description=(
        "Send the archive (gzipped or not) as the body. A corrupt archive (422) or, with on_conflict=fail, "
        "a target holding different objects under the same names (409) is refused before anything is written. "
        "Otherwise the answer streams one JSON object per line: progress events "
        '(``{"type": "progress", ...}``), then the report (``{"type": "result", "report": ...}``).'
    ),
    role=Role.OWNER, action="importing a workspace",
    response=bytes, media_type=NDJSON, raw_body=BYTES, query=("on_conflict", "label"), errors=(Conflict,),
    limit="uploads",
)  # fmt: skip
