"""sqlite_gmm: the gmm SQLite extension (Gaussian mixture models), bundled.

The wheel holds the loadable module built from this repository (``gmm.so``,
``gmm.dylib`` on macOS) next to this file. Load it into a connection of
Python's ``sqlite3`` module::

    import sqlite3, sqlite_gmm
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    sqlite_gmm.load(db)        # or db.load_extension(sqlite_gmm.loadable_path())
    db.enable_load_extension(False)
    db.execute("SELECT gmm_version()").fetchone()[0] == sqlite_gmm.__version__

The interpreter's ``sqlite3`` module must allow loading extensions (Debian's
``/usr/bin/python3`` does; some builds, e.g. pyenv's by default, do not and
have no ``enable_load_extension``).

No dependencies beyond the standard library. Built by ``python/make_wheel.py``
(``make wheel``), which writes the version below.
"""

import os

__all__ = ["loadable_path", "load", "__version__"]

# gmm's version (GMM_VERSION in ext/core/gmm.h), the gmm_version() of the
# bundled module: python/make_wheel.py writes it into the wheel's copy.
__version__ = "@GMM_VERSION@"


def loadable_path():
    """Return the absolute path of the bundled module, without its suffix.

    This is the form ``sqlite3.Connection.load_extension()`` and the sqlite3
    shell's ``.load`` take: SQLite appends ``.so``, ``.dylib`` or ``.dll``
    itself, and finds the entry point ``sqlite3_gmm_init`` from the name.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "gmm"))


def load(conn):
    """Load the bundled gmm module into ``conn``, a ``sqlite3.Connection``.

    The caller enables extension loading first
    (``conn.enable_load_extension(True)``) and may disable it afterwards.
    Errors are sqlite3's own, raised unchanged: ``sqlite3.OperationalError``
    when the module cannot be loaded (loading not enabled: "not authorized";
    a module built for another platform), and ``AttributeError`` when this
    Python's sqlite3 cannot load extensions at all.
    """
    conn.load_extension(loadable_path())
