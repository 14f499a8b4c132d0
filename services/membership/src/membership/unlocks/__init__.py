"""Free unlocks: a signed-in reader's metered reads of member-only stories, per publication per month."""
