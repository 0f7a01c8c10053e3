"""Side-by-side benchmarks of jaxspec against its references (``python -m benchmarks``)."""
