"""SavedModel export with named signatures, versioned atomic writes and a manifest."""

from keraszoo.export.saved_model import (
    KERAS_MODEL,
    MANIFEST,
    ExportExistsError,
    export_model,
    list_versions,
)

__all__ = ["KERAS_MODEL", "MANIFEST", "ExportExistsError", "export_model", "list_versions"]
