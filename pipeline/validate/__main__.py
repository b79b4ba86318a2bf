"""`python -m pipeline.validate`: the validation stage from the command line (see `driver.main`)."""

import sys

from pipeline.validate.driver import main

if __name__ == "__main__":  # importing the package's modules one by one (test_boundary) must not run the CLI
    sys.exit(main())
