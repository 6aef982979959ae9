import sys

from rdmldg.params.cli import main

sys.exit(main())
