"""taskconsole: runs a task system's background jobs and gives operators a console over them."""

__version__ = "0.1.0"
