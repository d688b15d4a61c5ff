"""`python -m guard ...`: see guard/cli.py."""

import sys

# The command line never needs TensorFlow, but spaCy's thinc imports it when it
# is installed (Rasa brings it), which costs seconds per call. Only here, in a
# process of our own, is it safe to keep it out (tests import guard.cli instead).
sys.modules.setdefault("tensorflow", None)

from guard.cli import main  # noqa: E402

sys.exit(main())
