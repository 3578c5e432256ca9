"""SavedModel export with named signatures, versioned atomic writes and a manifest."""

from keraszoo.export.saved_model import MANIFEST, ExportExistsError, export_model, list_versions

__all__ = ["MANIFEST", "ExportExistsError", "export_model", "list_versions"]
