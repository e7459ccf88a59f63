"""Weir: the shared library of the Weir pipeline (deployed as the `weir` Lambda layer).

Domain logic lives here; the handlers in ``functions/`` only parse, call one function of this
package and return.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
