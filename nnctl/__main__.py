import signal

# Ctrl-C and SIGTERM wait (pending) while the modules load; main() lets them in and says what they
# stopped (nnctl.cli.commands.main, handles_errors)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

from nnctl.cli.commands import main  # noqa: E402

main()
