import sys

from execbox.cli.main import main

sys.exit(main())
