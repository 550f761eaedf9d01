"""Settings for every test run."""

import os

from tests.data.store_helpers import TEST_ID_KEY

# One known id key, so that tests can tell which clinic id a stored pseudonym stands for. The
# anchor key still comes from each store's key file; tests of the keys themselves unset this.
os.environ["RELIEFCHECK_ID_KEY"] = TEST_ID_KEY
