"""SavedModel export with named signatures, versioned atomic writes, TF Serving warm-up requests
and a manifest."""

from keraszoo.export.saved_model import (
    MANIFEST,
    ExportExistsError,
    export_model,
    list_versions,
)
from keraszoo.export.warmup import WARMUP_DIR, WARMUP_FILE, read_warmup_requests, write_warmup_requests

__all__ = [
    "MANIFEST",
    "WARMUP_DIR",
    "WARMUP_FILE",
    "ExportExistsError",
    "export_model",
    "list_versions",
    "read_warmup_requests",
    "write_warmup_requests",
]
