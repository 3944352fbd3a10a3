"""The SFT stage's public API (`open_toolace.train`), implemented in the `open_toolace.training` package."""

from open_toolace.training import *  # noqa: F403  (re-export: this module is an alias of the package)
from open_toolace.training import __all__  # noqa: F401
