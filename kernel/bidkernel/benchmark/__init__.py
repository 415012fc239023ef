"""Same-run throughput measurements of bidkernel's primitives beside anchor libraries (``bidkernel bench``)."""
