"""The judge's side of grading: the student's module runs in a sandbox; the tests judge it from here.

``session`` (one lab: proxy modules + sandbox), ``proxy`` (the lab package as the tests see it),
``client`` (calls into the sandbox, deadlines, errors), ``jail`` (bubblewrap and rlimits).
"""
