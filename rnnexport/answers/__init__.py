"""Answers a user can act on (numpy only, no torch): abstention below a minimum probability, split conformal
prediction sets with a coverage level (marginal or per label), the table of their thresholds that travels in
manifest.json, and how both are measured (the selective-classification curve, achieved coverage and set size)."""
