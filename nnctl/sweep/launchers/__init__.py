"""Where a sweep's trials run, behind one small interface (base.Launcher): worker processes of this
machine (local) or a Dask cluster (dask). A new backend is one module with an `open_launcher`.
"""
