"""One run: trained end to end from a spec (run.py), gradient-checked, its learning rate found,
used (predict, evaluate, export) and tracked in MLflow.
"""
