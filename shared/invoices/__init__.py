"""Invoices: numbering, the status machine, reads and lists."""
