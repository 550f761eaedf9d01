"""The synthetic demo cohort and the sample exports cut from it (docs/demo_cohort.md).

``cohort`` generates the cohort from ``params`` through ``model``; ``truth`` records the true
effects the generator planted, which tests recover; ``samples`` writes the sample exports in
``data/samples/``.
"""
