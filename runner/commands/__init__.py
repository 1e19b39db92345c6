"""One module per command; each has `execute(args, console) -> int`."""
