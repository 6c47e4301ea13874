"""The fake Dolibarr's former one-module home, kept so that ``from dolirelance.testing.fake_dolibarr import
FakeDolibarr`` goes on working: the fake lives in the package :mod:`dolirelance.testing.fake`."""

# Everything the package exports, listed once (in its __all__), not a second time here.
from dolirelance.testing.fake import *  # noqa: F403
from dolirelance.testing.fake import __all__ as __all__
