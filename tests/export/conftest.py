import pytest

from keraszoo.export import export_model
from keraszoo.models import get_model_class


@pytest.fixture(scope="session")
def example_export(tmp_path_factory):
    """`example_export(name)`: a registered model on its `example_config()` and its export, built
    once per session for test_warmup and test_saved_model (both only read them)."""
    built = {}

    def get(name):
        if name not in built:
            cls = get_model_class(name)
            model = cls(**cls.example_config())
            built[name] = model, export_model(model, str(tmp_path_factory.mktemp("exports")))
        return built[name]

    return get
