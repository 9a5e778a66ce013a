"""``midwatch demo``: a deterministic synthetic integration landscape, collected end to end."""
