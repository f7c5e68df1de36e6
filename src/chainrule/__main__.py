"""`python -m chainrule` runs the command line."""

import sys

try:
    from chainrule.cli import main
except KeyboardInterrupt:
    sys.stderr.write("\nchainrule: interrupted\n")
    sys.exit(130)

sys.exit(main())
