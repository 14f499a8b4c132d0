"""A publication's members and subscribers: lists, a reader's history, the CSV export."""
