"""`nnctl report`: a run or a sweep as one HTML page (page.py), its figures, the shapes table;
templates/ is package data.
"""
