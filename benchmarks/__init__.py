"""Benchmarks of trioplugin, run as ``python -m benchmarks`` (see ``benchmarks/README.md``).

Not part of the test suite and not shipped in the wheel.
"""
