"""Data: datasets in files (HDF5, MATLAB) and the built-in generators, tables (CSV, TSV, Parquet),
pictures, streaming from disk, `nnctl data import`. Over the core; knows no spec or run folder.
"""
