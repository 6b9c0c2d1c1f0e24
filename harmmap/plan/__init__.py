"""Planning on scoring and trends results (pure: arrays and DataFrames in, frozen results out).

* :mod:`harmmap.plan.coverage` -- where to put K teams: the maximal covering location problem, exact or greedy.
* :mod:`harmmap.plan.greedy` -- the lazy greedy and its submodular bound.
* :mod:`harmmap.plan.patrol` -- patrol loops, visit schedules and dosage within a shift.
* :mod:`harmmap.plan.stores` -- the persistent-crime store list with reason codes.
"""
