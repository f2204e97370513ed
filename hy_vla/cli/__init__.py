"""The `hy-vla` command line: one entry point, one module per subcommand."""
