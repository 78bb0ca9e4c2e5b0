# The licence tests' fixture of a tenant billed by licence, for the PBX tests that need one.
from tests.licensing.conftest import licensed  # noqa: F401
