import sys

from audionoise.cli import main

sys.exit(main())
