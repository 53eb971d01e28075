"""What runs INSIDE the sandbox next to the student's module: the call server and the wire format.

Nothing in this package may import the rest of ``grader`` (the sandbox sees only this folder):
``wire`` (frames and the data-only value format both sides share), ``tracking`` (the product
counter lab 01's structure tests use) and ``server`` (the loop that answers the judge's calls).
"""
