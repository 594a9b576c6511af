"""The hostile-bot suite: attacks played from inside real bot containers (issue 12)."""
