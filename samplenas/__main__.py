import sys

from samplenas.cli import main

sys.exit(main())
