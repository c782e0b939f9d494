"""Fixtures the unit tests' modules share (pytest collects fixtures imported into a conftest):
the generated lake of the generator's tests."""

from theletter_data_tests.support.generated_lake import generated  # noqa: F401
