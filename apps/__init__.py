"""The programs (installed as `mtcp_py.apps`, each a `mtcp-<program>` console script)."""
