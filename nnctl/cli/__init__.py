"""The command line, on top of everything: commands.py (Typer: parse, call, print) and display.py
(Rich). The only importers of typer and rich.
"""

from nnctl.cli.commands import main  # noqa: F401  (the console script is nnctl.cli:main)
