"""NumPy building blocks, each a forward/backward pair with an explicit cache."""
