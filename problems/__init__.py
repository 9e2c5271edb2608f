"""Built-in problems, written exactly as a user writes a plug-in.

Every module in this folder is imported, and registers its problems with
:func:`optbench.register_problem`.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
