"""Settings for every test run.

**No test touches the real user data folder.** ReliefCheck keeps its default store, key files,
roles file and the command line's rejects folder under ``$XDG_DATA_HOME/reliefcheck`` (by
default ``~/.local/share/reliefcheck``). Before any test module is imported, this file points
``XDG_DATA_HOME`` at a fresh temporary folder and unsets the variables that name a store, key
file or roles file outside it, so a test (or a dashboard a browser test starts, which inherits
the environment) that forgets ``--db`` writes there. At the end of the session the real folder
is compared with how it was at the start (entries and modification time): a change fails the
run (``tests/test_user_folder.py`` checks the defaults themselves).
"""

import os
import shutil
import tempfile
from pathlib import Path

from tests.data.store_helpers import TEST_ID_KEY

#: The real user data folder of ReliefCheck, as the product would find it without this file.
REAL_DATA_FOLDER = (
    Path(os.environ.get("XDG_DATA_HOME", "").strip() or Path.home() / ".local" / "share")
    / "reliefcheck"
)
#: The temporary folder that stands in for ``$XDG_DATA_HOME`` during the tests.
ISOLATED_DATA_HOME = Path(tempfile.mkdtemp(prefix="reliefcheck-test-data-"))
os.environ["XDG_DATA_HOME"] = str(ISOLATED_DATA_HOME)
for _name in ("RELIEFCHECK_DB_URL", "RELIEFCHECK_KEY_FILE", "RELIEFCHECK_ROLES"):
    os.environ.pop(_name, None)

# One known id key, so that tests can tell which clinic id a stored pseudonym stands for. The
# anchor key still comes from each store's key file; tests of the keys themselves unset this.
os.environ["RELIEFCHECK_ID_KEY"] = TEST_ID_KEY


def folder_state(folder: Path) -> tuple[bool, int | None, frozenset[str]]:
    """(exists, modification time in ns, entry names) of ``folder``: what a test run must not
    change in the real user data folder."""
    try:
        mtime = folder.stat().st_mtime_ns
        names = frozenset(os.listdir(folder))
    except FileNotFoundError:
        return False, None, frozenset()
    return True, mtime, names


_REAL_AT_START = folder_state(REAL_DATA_FOLDER)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when the real user data folder changed; remove the stand-in folder."""
    after = folder_state(REAL_DATA_FOLDER)
    if after != _REAL_AT_START:
        added = sorted(after[2] - _REAL_AT_START[2])
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"The test run changed the real user data folder {REAL_DATA_FOLDER} "
                f"(new entries: {', '.join(added[:5]) or 'none'}). Tests must write only under "
                f"{ISOLATED_DATA_HOME}.",
                red=True,
            )
        session.exitstatus = 1
    shutil.rmtree(ISOLATED_DATA_HOME, ignore_errors=True)
