import sys

from mlenv.cli.main import main

sys.exit(main())
