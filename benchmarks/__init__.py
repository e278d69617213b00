"""On-demand speed and memory benchmarks (``python -m benchmarks.<name> --help``).

Kept out of the test suite's timing: tests only run each benchmark's ``--smoke`` mode and
check the shape of its output, so a slow CI machine can never fail a build.
"""
