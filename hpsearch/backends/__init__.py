"""Search engines behind one protocol; each heavy library lives in exactly one module."""
