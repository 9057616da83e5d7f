"""Local runtime and local stand-ins for the outside services."""
