"""The dual-pods controller: binds server-requesting Pods to server-providing Pods.

Layers, lowest first: :mod:`names` (wire names), :mod:`pods` (reading plain dict
objects), :mod:`merge` / :mod:`spec` / :mod:`ids` (pure computations), :mod:`world`
(a snapshot), :mod:`decide` (snapshot -> decisions with effects, no I/O), and the live
parts (:mod:`executor`, :mod:`controller`) that carry effects out.
"""
