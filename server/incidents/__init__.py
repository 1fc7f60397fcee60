"""Incidents (school §2, §5; CIC App.1 1.8): reported, investigated, closed, with actions; the
line manager told at once."""
