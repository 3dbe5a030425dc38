"""The rule language: rule files as text -> compiled, checked rules with positioned diagnostics.

Owns reading YAML with a source map, the JSON Schema, GitHub's event catalogue, filter and
name patterns, every semantic check (checks/), the compiled model, and the reporters of
problems. Pure but for `files` (finding and reading rule files): it may import `expr`,
`engine.errors`, `engine.text` and the node *declarations* (`nodes.registry`, `nodes.specs`),
never the node implementations, the GitHub client, the store, the server or the command line.
"""
