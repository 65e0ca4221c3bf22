"""The ``nrm`` subcommands, one small module each.

Each module exposes ``register(sub)``: it adds its argparse subparser and sets
``handler=`` to a function taking the parsed arguments and returning an exit code (or raising an
:class:`~nrm.exceptions.NrmError`). :func:`nrm.cli.main` turns errors into exit codes.
"""
