"""The plan conformity check: rules as data, one spatial overlay, stored results."""
