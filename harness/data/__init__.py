"""Where data comes from: readers, named data sets and generators. No task logic, no models."""
