"""VM tests: real guests under libvirtd + QEMU (TCG).  Skipped where the host lacks them."""
