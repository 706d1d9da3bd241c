"""``python -m jazzcnn`` runs the command line."""
import sys

from jazzcnn.cli import main

sys.exit(main())
