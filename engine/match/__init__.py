"""Deciding which rules fire for a delivery: the event model, the filters, the rule index.

Owns turning a payload into an Event and `match(event, index)` -> matched, rejected with a
reason in words, or waiting for the changed files. Pure: it may import `lang`, `expr`,
`engine.errors` and `engine.text`; no I/O of any kind.
"""
