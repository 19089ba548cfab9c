from nnctl.cli import main  # holds Ctrl-C and SIGTERM while the modules load (nnctl.cli.main)

main()
