"""The semantic checks of a rule file, one module per family: `triggers` (the `on:` block),
`graph` (needs and cycles), `nodes` (node types and inputs), `expressions` (every `${{ }}`).
`base` holds the shared reporting helpers. Each check reports diagnostics; none raises.
"""
