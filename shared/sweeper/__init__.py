"""Finishing or reversing claims (operations that cross an outside call) left past their deadline."""
