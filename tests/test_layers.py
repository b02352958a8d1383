"""The layers of DESIGN.md §4: the model is pure."""

import subprocess
import sys


def test_importing_the_model_pulls_in_no_database_network_or_web_library() -> None:
    code = (
        "import sys, pkgutil, importlib, wayfare.model as m\n"
        "for info in pkgutil.iter_modules(m.__path__):\n"
        "    importlib.import_module('wayfare.model.' + info.name)\n"
        "bad = sorted({n.split('.')[0] for n in sys.modules} & {'sqlalchemy', 'httpx', 'fastapi',"
        " 'psycopg', 'starlette', 'alembic'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
