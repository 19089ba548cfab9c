"""The numerical core: activations, layers, the reference math, optimizers, the first layer, the
Trainer and its loop, regularisation, early stopping, gradient checking, resource estimates.
Arrays in, arrays out: it imports nothing above it (no spec, no data files, no run folder).
"""
