"""The command line: argparse commands over the service facade."""
