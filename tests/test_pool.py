"""The shard builder's process pool keeps order and survives a worker being killed."""

from crashy import crashed, square_or_die

from preprocess import pool


def test_ordered_results():
    tasks = list(range(7))
    assert list(pool.ordered_map(square_or_die, tasks, 2, crashed)) == [(t, t * t) for t in tasks]


def test_a_dying_worker_fails_only_its_task_and_the_run_goes_on():
    tasks = [1, 2, 'die', 3, 4, 5, 6]
    results = list(pool.ordered_map(square_or_die, tasks, 2, crashed))
    assert results == [(1, 1), (2, 4), ('die', 'crashed:die'), (3, 9), (4, 16), (5, 25), (6, 36)]
