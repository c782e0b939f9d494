"""`theletter-data benchmark`: speed, memory and cost measured side by side in one run."""
