"""Applications: what users run (demo, denoising, compressed sensing) and their CLIs."""
