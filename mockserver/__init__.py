"""mockserver: a stateful mock of async AI-generation APIs."""

__version__ = "0.1.0"
