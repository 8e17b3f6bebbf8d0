"""Run work from many threads released at the same instant, each on its own connection."""

import threading
from collections.abc import Callable, Iterable

from django.db import connections


def at_once(work: Callable, arguments: Iterable, *, timeout: float = 60) -> list:
    """Call `work(argument)` for each argument, every call in its own thread, all released
    together; return the answers in order."""
    arguments = list(arguments)
    barrier = threading.Barrier(len(arguments))
    answers = [None] * len(arguments)

    def run(index, argument):
        try:
            barrier.wait()
            answers[index] = work(argument)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return answers
