"""Tables and figures, each a pure function of cached metric JSON files."""
