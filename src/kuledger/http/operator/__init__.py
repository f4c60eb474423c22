"""The operator API: the write side as a service, on a listener of its own."""
