"""The run folder: its file names and statuses, its lock, creating and writing it, reading it back
validated, checkpoints and metrics. Nothing outside it should name a run file.
"""
