"""``python -m nalu_cli.cli``: the same as the ``nalu`` command."""

from nalu_cli.cli import main

main()
