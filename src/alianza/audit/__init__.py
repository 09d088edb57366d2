"""The append-only, hash-chained, signed audit log of everything that touches a person's rights."""
