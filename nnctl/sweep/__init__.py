"""Many runs: the sweep (plan, executors, the sweep folder), the study loop, samplers, the pruner,
the selection of the best trial.
"""
