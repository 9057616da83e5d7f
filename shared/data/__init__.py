"""Reference data the domain reads at import (currency table)."""
