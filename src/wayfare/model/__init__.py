"""The journey model: journeys, states, conditions, durations, customer data and validation.

Pure: standard library and small pure libraries only (no database, network or web imports).
"""
