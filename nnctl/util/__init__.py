"""Leaves every layer may use: files written whole, text made safe to show, the memory this process
may take, PNG figures. They import nothing of nnctl's but each other and nnctl.errors.
"""
