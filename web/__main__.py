"""Allow ``python -m web`` as another spelling of ``crisis``."""

from web.cli import main

main()
