import sys

from fma.cli import main

sys.exit(main())
