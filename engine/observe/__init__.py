"""What a running process tells its operators: structured JSON logs (`logs.get(name)`) and
Prometheus metrics. It imports nothing of engine's but the base, so every room may use it.
"""
