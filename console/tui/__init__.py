"""The Textual console: live panels over the embedded scheduler, driven from the keyboard."""
