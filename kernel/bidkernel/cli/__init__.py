"""The ``bidkernel`` command. Each sub-command group lives in its own module here."""
