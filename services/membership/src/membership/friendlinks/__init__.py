"""Friend links: a link an author or a publication's staff share that opens one story for anyone."""
