"""kdlab: the kdumpkit crash lab. Boots Debian kernels under QEMU, crashes
them, and checks the dumps with the real crash utility and drgn."""
