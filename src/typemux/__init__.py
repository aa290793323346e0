"""typemux: one Python type checker per virtualenv, behind a single stdio LSP server."""

__version__ = "0.1.0"
