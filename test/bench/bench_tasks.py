"""The trivial job for Python RQ's side of test/bench/rq.sh (a Python worker cannot run pqrt.echo)."""


def echo(x):
    return x
