"""``python -m gateway``: the same as the ``tthc-gateway`` command."""

from gateway.cli import main

main()
