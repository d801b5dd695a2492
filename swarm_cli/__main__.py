import sys

from swarm_cli.main import main

sys.exit(main())
