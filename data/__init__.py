"""Getting outcome data in and keeping it: registry, readers, validation, store, demo cohort."""
