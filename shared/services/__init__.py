"""Use cases of the domain; they depend on ports only."""
