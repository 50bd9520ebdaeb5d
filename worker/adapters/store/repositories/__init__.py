"""One repository per aggregate, each over the unit of work's connection."""
