"""Every registered zoo model passes the generic contract (tests/harness.py), with no test of
its own needed: a new family is picked up by `available_models()`."""

import pytest

from keraszoo.models import ZooModel, available_models, get_model_class
from tests.harness import run_zoo_model_test


@pytest.mark.parametrize("name", available_models())
def test_zoo_model_contract(name, tmp_path):
    assert issubclass(get_model_class(name), ZooModel)
    run_zoo_model_test(name, tmp_path)
