"""Risk assessment before lone working (CIC 7.4, 8.1-8.2, App.1 §4; school §6): the factors, the
rating, and the rule that a high rating needs a second worker or the line manager's override."""
