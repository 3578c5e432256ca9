"""Diagnostics users can run on trained models: `keraszoo.diagnostics.gradients`."""
