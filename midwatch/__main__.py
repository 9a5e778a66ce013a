import sys

from midwatch.cli import main

sys.exit(main())
