"""Layer analysis over the captured images: statistics that need no model, only the store."""
