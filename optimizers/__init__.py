"""Built-in optimizers and learning-rate schedules, written exactly as a user writes a plug-in.

Every module in this folder is imported, and registers its optimizers or schedules with
:func:`optbench.register_optimizer` or :func:`optbench.register_schedule`.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
