"""cohortsim: plan randomised clinical trials by simulating them.

Time is in months throughout (1 month = 365.25 / 12 days) unless a name says otherwise.
"""

__version__ = "0.1.0"
