"""Node-type declarations: the registry and its types (inputs schema, outputs, description),
the built-in specs, the condition node types and the App permissions each type asks for. It
is pure data: validation reads it and never loads node code (engine.nodes holds the code).
"""
