"""The command line, on top of everything: commands.py (Typer: parse, call, print) and display.py
(Rich). The only importers of typer and rich.

`main` is the console script (nnctl.cli:main) and `python -m nnctl`. It holds Ctrl-C and SIGTERM
off before anything heavy is imported: Rich, Typer and NumPy take a third of a second or more to
load, and a signal then gave a KeyboardInterrupt traceback (SIGTERM: a silent death, exit 143).
Held, the kernel keeps it pending; nnctl.cli.commands.main lets it in once its handler is there,
and the command stops before it begins, saying so.
"""


def main() -> None:
    import signal  # here, not at the top: `import nnctl.cli` (display, commands) changes no signal mask

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    from nnctl.cli.commands import main as run  # after the mask: its imports are the slow part of the start

    run()
