"""Enterprise capability: audit and destruction-log views, invoice imports."""
