"""The `${{ }}` expression language: tree, parser, evaluator and static checks.

Owns GitHub Actions' expression grammar and semantics, evaluated by our own code (never
Python's `eval`). Pure: it may import only `engine.errors` and `engine.text`.
"""
