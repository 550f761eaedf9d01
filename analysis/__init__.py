"""Pure computation on the validated tidy table (no file or database access here)."""
