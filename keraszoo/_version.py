"""The package version (pyproject.toml's `version`), importable without TensorFlow."""

__version__ = "0.1.0"
