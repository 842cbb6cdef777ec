"""Discovery campaigns (docs/design.md, "Discovery campaigns"): strategies buy labels
from a labeller that plays the DFT code, under a budget.

``labeller`` is the only module that holds the reference energies (the runner passes them
in); ``strategies`` is blind (tests/test_architecture.py); ``run`` plays the rounds and
summarises; ``plot`` draws the curves.
"""
