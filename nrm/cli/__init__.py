"""The ``nrm`` command line: every subcommand, one small module each.

Each module exposes ``register(sub)``: it adds its argparse subparser and sets ``handler=`` to a
function taking the parsed arguments and returning an exit code (or raising an
:class:`~nrm.exceptions.NrmError`). :func:`nrm.cli.main.main` is the one place errors become exit
codes. This file imports nothing, so that importing one subcommand's module (``nrm.cli.run``)
does not import every other one.
"""
