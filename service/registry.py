"""Old name of `service.models.repository`, kept only for `tests/service/test_runtime.py`.

That test imports `service.registry` and is left unedited until the core-package branch replaces
it; delete this module together with that line. New code imports `service.models.repository`.
"""

from service.models.repository import available_models, best_model, resolve

__all__ = ["available_models", "best_model", "resolve"]
