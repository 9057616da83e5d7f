"""Domain events and audit entries, and their publishing from the table's stream."""
